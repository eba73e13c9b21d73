"""Pass 1 of a squash: from the layers' headers alone, decide what the one new layer holds.

The merged view is ``ImageFilesystem``'s, the same one every scan uses, so whiteouts,
opaque directories, replaced directories and omitted parent directories mean the same
here as in a report. The plan names, for each squashed layer, the members whose content
or header is final and the output paths each becomes. Hard links stay links: every
group of paths sharing one inode (in the layer that made it) is written once, under its
first path in sorted order, and the others link to it — so the tar never links forward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hullscan.filesystem import ImageFilesystem
from hullscan.layers import LayerAnalysis
from hullscan.model import FileInfo, FileType

MAX_LINK_HOPS = 40


@dataclass
class SquashPlan:
    layers: int
    #: bottom layers kept as they are (``--keep-base``)
    base: int
    #: per layer: member path -> output paths; the first takes the member (with its
    #: content), the others are hard links to the first
    wanted: list[dict[str, list[str]]]
    #: final directories no layer has an entry for (tars may omit parents)
    implicit_dirs: set[str] = field(default_factory=set)
    #: paths of kept base layers that the squashed layer must delete (``.wh.`` entries)
    whiteouts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: newest mtime of the entries the new layer holds
    newest_mtime: int = 0

    def link_targets(self) -> dict[str, str]:
        """Output path -> the output path it hard-links to."""
        return {p: outs[0] for by in self.wanted for outs in by.values() for p in outs[1:]}

    def output_paths(self) -> list[str]:
        """Every path the new layer writes, sorted (whiteouts under their ``.wh.`` name)."""
        paths = [p for by in self.wanted for outs in by.values() for p in outs]
        paths.extend(self.implicit_dirs)
        paths.extend(whiteout_name(w) for w in self.whiteouts)
        return sorted(paths)


def whiteout_name(path: str) -> str:
    parent, _, base = path.rpartition("/")
    return f"{parent}/.wh.{base}" if parent else f".wh.{base}"


def make_plan(analyses: Sequence[LayerAnalysis], base: int = 0) -> SquashPlan:
    fs = ImageFilesystem(analyses)
    plan = SquashPlan(layers=len(analyses), base=base, wanted=[{} for _ in analyses])
    members: dict[int, dict[str, FileInfo]] = {}

    def layer_files(i: int) -> dict[str, FileInfo]:
        if i not in members:
            members[i] = {f.path: f for f in analyses[i].files}  # the last entry wins
        return members[i]

    #: (layer, member path) -> output paths sharing that member
    groups: dict[tuple[int, str], list[str]] = {}
    for path, (i, info) in fs.final.items():
        if i < base:
            continue
        plan.newest_mtime = max(plan.newest_mtime, info.mtime)
        if info.type is FileType.HARDLINK:
            where = _link_source(fs, layer_files, i, info.linkname, base)
            if where is None:
                plan.warnings.append(
                    f"{path}: hard link to {info.linkname}, which the final "
                    "image no longer holds; left out"
                )
                continue
            if where[0] < base:  # the target stays in a kept layer: link to it there
                where = (i, path)
        elif path not in layer_files(i):
            plan.implicit_dirs.add(path)
            continue
        else:
            where = (i, path)
        groups.setdefault(where, []).append(path)
    for (i, member), outs in groups.items():
        plan.wanted[i][member] = sorted(outs)
    if base:
        plan.whiteouts = _deleted_from_base(ImageFilesystem(analyses[:base]), fs)
    return plan


def _link_source(
    fs: ImageFilesystem,
    layer_files: Callable[[int], dict[str, FileInfo]],
    layer: int,
    target: str,
    base: int,
) -> tuple[int, str] | None:
    """The (layer, member) holding a hard link's content: its target in the same layer
    (through chains of links), else — a link into a lower layer — the target's final
    version, if no later layer replaced it. None when that content is gone."""
    files = layer_files(layer)
    for _ in range(MAX_LINK_HOPS):
        entry = files.get(target)
        if entry is None:
            break
        if entry.type is not FileType.HARDLINK:
            return layer, target
        target = entry.linkname
    final = fs.final.get(target)
    if final is None or final[0] >= layer:
        return None
    owner, info = final
    if owner < base or info.type is not FileType.HARDLINK:
        return owner, target
    return _link_source(fs, layer_files, owner, info.linkname, base)


def _deleted_from_base(base_fs: ImageFilesystem, fs: ImageFilesystem) -> list[str]:
    """Base paths the final image lacks, at the top of each deleted subtree only."""
    gone = []
    for path in base_fs.final:
        if path in fs.final:
            continue
        parent = path.rpartition("/")[0]
        if not parent:
            gone.append(path)
            continue
        holder = fs.final.get(parent)
        if holder is not None and holder[1].type is FileType.DIR:
            gone.append(path)
    return sorted(gone)
