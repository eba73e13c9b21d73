"""``hullscan pin``: pin the base images of Dockerfiles by digest."""

from __future__ import annotations

from pathlib import Path

import click

from hullscan.cli.common import EXIT_FINDINGS, EXIT_OK, load_settings
from hullscan.cli.registry import RegistryFlags, registry_options, registry_settings


@click.command()
@click.argument(
    "dockerfiles", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option(
    "--check",
    is_flag=True,
    help="Change nothing: list base images not pinned by digest and exit 1 if "
    "there are any (no network).",
)
@click.option(
    "--layout",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Resolve digests from this OCI layout (its ref.name annotations) instead "
    "of the registries.",
)
@registry_options
def pin(
    dockerfiles: tuple[str, ...], check: bool, layout: Path | None, registry_flags: RegistryFlags
) -> None:
    """Pin each FROM image:tag in DOCKERFILES to image:tag@sha256:… (written in place).

    Stage references, scratch and images already pinned stay as they are; FROM $VAR is
    pinned in the default of its global ARG. Multi-platform images are pinned to their
    index digest, so every platform keeps building.

    \b
    Examples:
      hullscan pin Dockerfile
      hullscan pin --check Dockerfile build/*.Dockerfile   # in CI
    """
    from hullscan.streams import Limits
    from hullscan.supplychain.pin import (
        pin_dockerfile,
        resolve_from_layout,
        resolve_from_registry,
        unpinned,
        write_atomically,
    )

    if check:
        missing = [(path, b) for path in dockerfiles for b in unpinned(path)]
        for path, b in missing:
            why = (
                "not pinned by digest"
                if b.status == "unpinned"
                else "built from variables; cannot be pinned here"
            )
            click.echo(f"{path}:{b.line}: {b.written}: {why}")
        if not missing:
            click.echo(f"{len(dockerfiles)} Dockerfile(s): every base image is pinned", err=True)
        click.get_current_context().exit(EXIT_FINDINGS if missing else EXIT_OK)
    settings = registry_settings(registry_flags, load_settings(None))
    limits = Limits()
    cache: dict[str, str] = {}

    def resolve(image: str) -> str:
        if image not in cache:
            cache[image] = (
                resolve_from_layout(image, layout, limits)
                if layout
                else resolve_from_registry(image, settings, limits)
            )
        return cache[image]

    results = [pin_dockerfile(path, resolve) for path in dockerfiles]  # resolve all first
    for result in results:
        for b in result.images:
            if b.stage in result.pins:
                click.echo(f"{result.path}:{b.line}: {b.written} -> {result.pins[b.stage]}")
            elif b.status == "unresolved":
                click.echo(
                    f"{result.path}:{b.line}: {b.written}: built from variables; left as it is",
                    err=True,
                )
        if result.pins:
            write_atomically(result.path, result.text)
