"""``hullscan pin``: rewrite each ``FROM image:tag`` to ``image:tag@sha256:…`` so every
build uses the bytes that were reviewed, resolved from the registry (or an OCI layout).

Stage references (``FROM builder``), ``scratch`` and images already pinned are left as
they are. ``FROM $BASE`` is pinned where the image is written: in the default of the
global ``ARG BASE=…``. For a multi-platform image the index digest is used, as
``docker buildx imagetools`` shows it, so every platform stays buildable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hullscan import atomicfile
from hullscan.checks.dockerfile.parser import Dockerfile, parse, parse_image
from hullscan.errors import HullscanError, ImageError
from hullscan.references import canonical_name, parse_reference
from hullscan.sources.interface import check_digest, load_json
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.sources.store import DirStore
from hullscan.streams import Limits

_REF_NAME = "org.opencontainers.image.ref.name"
_VAR_ONLY = re.compile(r"^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$")


@dataclass(frozen=True)
class BaseImage:
    """One image a Dockerfile builds on, and where it is written."""

    line: int  # 1-based line holding ``written``
    stage: int
    written: str  # the image as it appears in the file
    image: str  # after substituting global ARG defaults
    #: pinned | unpinned | scratch | stage | unresolved (a variable with no default)
    status: str
    via_arg: str | None = None  # the global ARG whose default holds the image


def base_images(df: Dockerfile, lines: list[str]) -> list[BaseImage]:
    out = []
    for st in df.stages:
        raw = st.image_raw
        if st.parent is not None:
            status = "stage"
        elif st.image.lower() == "scratch":
            status = "scratch"
        elif st.unresolved:
            status = "unresolved"
        else:
            status = "pinned" if parse_image(st.image)[2] else "unpinned"
        var = _VAR_ONLY.match(raw)
        if var and status in ("pinned", "unpinned"):
            name = var.group(1) or var.group(2)
            line = _arg_line(lines, name, st.line)
            if line is None:
                out.append(BaseImage(st.line, st.index, raw, st.image, "unresolved"))
                continue
            out.append(BaseImage(line, st.index, st.image, st.image, status, name))
        elif "$" in raw and status in ("pinned", "unpinned"):
            # a reference built from several variables: nothing single to rewrite
            out.append(BaseImage(st.line, st.index, raw, st.image, "unresolved"))
        else:
            out.append(BaseImage(st.line, st.index, raw, st.image, status))
    return out


def _arg_line(lines: list[str], name: str, before: int) -> int | None:
    """The last global ``ARG name=value`` line before ``before`` (1-based)."""
    pattern = re.compile(rf"^\s*ARG\s+{re.escape(name)}=", re.IGNORECASE)
    found = None
    for i, text in enumerate(lines[: before - 1], start=1):
        if pattern.match(text):
            found = i
    return found


def _pinned(image: str, digest: str) -> str:
    name, tag, _ = parse_image(image)
    return f"{name}:{tag}@{digest}" if tag else f"{name}@{digest}"


def _replace_token(text: str, old: str, new: str) -> str | None:
    """``old`` replaced by ``new`` where it stands as a whole word (or as the value of
    ``ARG NAME=``); None when it is not there."""
    pattern = re.compile(rf"(?<![^\s=\"']){re.escape(old)}(?![^\s\"'])")
    result, count = pattern.subn(lambda _m: new, text, count=1)
    return result if count else None


def resolve_from_registry(image: str, settings: RegistrySettings, limits: Limits) -> str:
    """The digest ``image`` names in its registry now (the manifest or index digest),
    computed from the manifest bytes, not taken from a header."""
    from hullscan.supplychain.signatures import Target, resolve_digest

    ref = parse_reference(image, settings.default_registry)
    return resolve_digest(Target(image, reference=ref), settings, limits)


def resolve_from_layout(image: str, layout: Path, limits: Limits) -> str:
    """The digest an OCI layout records for ``image`` (its ``ref.name`` annotation is the
    reference as written, or the same reference spelled in full)."""
    store = DirStore(str(layout))
    index = load_json(
        store.read("index.json", limits.max_json_bytes), f"{layout}/index.json", limits
    )
    want = _full(image)
    for desc in index.get("manifests") or []:
        if not isinstance(desc, dict):
            continue
        name = (desc.get("annotations") or {}).get(_REF_NAME)
        if isinstance(name, str) and (name == image or _full(name) == want):
            digest = desc.get("digest")
            if not isinstance(digest, str):
                break
            blob = store.read(f"blobs/{digest.replace(':', '/', 1)}", limits.max_json_bytes)
            check_digest(blob, digest, f"{layout} manifest for {image}")
            return digest
    raise ImageError(f"{layout}: no image named {image!r} in the layout")


def _full(image: str) -> str:
    name, tag, _ = parse_image(image)
    return f"{canonical_name(name if '/' in name else f'docker.io/{name}')}:{tag or 'latest'}"


@dataclass(frozen=True)
class PinResult:
    path: str
    images: list[BaseImage]
    pins: dict[int, str]  # stage index → the pinned reference written
    text: str  # the new file content


def pin_dockerfile(path: str, resolve: Callable[[str], str]) -> PinResult:
    """Resolve every unpinned base image and return the rewritten text (not written)."""
    try:
        original = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise HullscanError(f"{path}: cannot read ({e.strerror})") from None
    df = parse(original, path)
    lines = original.splitlines(keepends=True)
    images = base_images(df, lines)
    pins: dict[int, str] = {}
    done: dict[tuple[int, str], str] = {}  # an ARG used by several stages is pinned once
    for b in images:
        if b.status != "unpinned":
            continue
        key = (b.line, b.written)
        if key not in done:
            new = _pinned(b.written, resolve(b.image))
            text = _replace_token(lines[b.line - 1], b.written, new)
            if text is None:
                raise HullscanError(
                    f"{path}:{b.line}: cannot find {b.written!r} to rewrite "
                    "(is the FROM split over several lines?)"
                )
            lines[b.line - 1] = text
            done[key] = new
        pins[b.stage] = done[key]
    return PinResult(path, images, pins, "".join(lines))


def write_atomically(path: str, text: str) -> None:
    """Replace the file's content in one step, keeping its permissions."""
    atomicfile.write_atomically(Path(path), text.encode("utf-8"))


def unpinned(path: str) -> list[BaseImage]:
    """The base images ``--check`` reports: not pinned, or not pinnable (a variable)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise HullscanError(f"{path}: cannot read ({e.strerror})") from None
    return [
        b
        for b in base_images(parse(text, path), text.splitlines())
        if b.status in ("unpinned", "unresolved")
    ]
