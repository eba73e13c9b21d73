"""An image's final filesystem as hullscan merges it, with every file's content hash:
what a squashed image must reproduce exactly."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO, Any, ClassVar

from hullscan.analyzer import Analyzer, AnalyzerResult
from hullscan.filesystem import ImageFilesystem
from hullscan.model import FileInfo, FileType
from hullscan.pipeline import ScanOptions, analyze_layers
from hullscan.sources import open_image


class ContentHash(Analyzer):
    name: ClassVar[str] = "test-content-hash"
    max_size: ClassVar[int] = 1 << 40

    def required(self, path: str, info: FileInfo) -> bool:
        return info.type is FileType.REG

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult:
        h = hashlib.sha256()
        while chunk := stream.read(1 << 20):
            h.update(chunk)
        return AnalyzerResult(facts={"sha256": h.hexdigest()})


def final_view(ref: str, cache_dir: Path) -> dict[str, tuple[Any, ...]]:
    """path -> (type, mode, uid, gid, symlink target, content sha256); a hard link counts
    as the file it shares content with."""
    options = ScanOptions(cache_dir=cache_dir, use_cache=False, workers=1)
    image = open_image(ref, limits=options.limits, cache_dir=cache_dir)
    analyses = analyze_layers(image, [ContentHash()], options)
    fs = ImageFilesystem(analyses)
    view = {}
    for path, (layer, info) in fs.final.items():
        kind = "file" if info.type in (FileType.REG, FileType.HARDLINK) else str(info.type)
        digest = None
        if kind == "file":
            result = analyses[layer].results.get(path, {}).get(ContentHash.name)
            digest = result.facts["sha256"] if result else "(empty or unread)"
        link = info.linkname if info.type is FileType.SYMLINK else ""
        view[path] = (kind, info.mode & 0o7777, info.uid, info.gid, link, digest)
    return view


def layer_count(ref: str, cache_dir: Path) -> int:
    return len(open_image(ref, cache_dir=cache_dir).layers)


def scan_json(ref: str, cache_dir: Path, scanners: str = "secret,config") -> dict[str, Any]:
    """``hullscan scan --format json`` of ``ref``, run in process; the report document."""
    import json
    import tempfile

    from hullscan.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        argv = ["scan", ref, "--scanners", scanners, "--format", "json", "-o", str(out)]
        code = main([*argv, "--cache-dir", str(cache_dir), "-q"])
        assert code in (0, 1), f"hullscan scan {ref} exited {code}"
        report: dict[str, Any] = json.loads(out.read_text())
    return report
