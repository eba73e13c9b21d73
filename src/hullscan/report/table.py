"""A terminal table of the inventory, grouped by package type."""

from __future__ import annotations

import io
import shutil
from collections import Counter

from rich.console import Console
from rich.table import Table

from hullscan.model import Inventory


def _short(digest: str | None, n: int = 12) -> str:
    if not digest:
        return "-"
    return digest.split(":", 1)[-1][:n]


def render_table(inv: Inventory, color: bool = False, width: int | None = None) -> str:
    buf = io.StringIO()
    # on a terminal, its width; in a pipe or file, wide enough that paths stay on one line
    console = Console(file=buf, force_terminal=color, no_color=not color,
                      width=width or (shutil.get_terminal_size().columns if color else 200),
                      highlight=False)
    img = inv.image
    os_text = inv.os.pretty_name or f"{inv.os.id} {inv.os.version_id}" if inv.os else "unknown"
    if inv.os and inv.os.release and inv.os.release not in os_text:
        os_text += f" ({inv.os.release})"
    if inv.os and inv.os.distroless:
        os_text += ", distroless"
    console.print(f"[bold]{img.name}[/bold]  {img.transport}")
    console.print(f"  digest {img.digest or '-'}  config {img.config_digest or '-'}")
    console.print(f"  os {os_text}  platform {img.platform or '-'}  layers {len(img.layers)}")
    layer_index = {layer.diff_id: layer.index for layer in img.layers}
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for col in ("TYPE", "NAME", "VERSION", "SOURCE", "LAYER", "PATH"):
        table.add_column(col, overflow="fold")
    for p in inv.packages:
        loc = p.locations[0] if p.locations else None
        layer = str(layer_index.get(loc.layer, "-")) if loc and loc.layer else "-"
        source = p.source_name if p.source_name and p.source_name != p.name else ""
        if p.owner:
            source = f"(owned by {p.owner})"
        table.add_row(p.type, p.name, p.version, source, layer, loc.path if loc else "")
    console.print(table)
    counts = Counter(p.type for p in inv.packages)
    summary = ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "no packages"
    console.print(f"{len(inv.packages)} packages: {summary}")
    for w in inv.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())
