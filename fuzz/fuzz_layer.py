"""Fuzz the layer stream: compression sniffing, gzip and zstd, the bounds, tar walking,
whiteouts and hard links, with every inventory analyzer riding the walk.

The first byte picks how the blob is checked: no digest, its true digests (it must then
read to the end or fail cleanly), or a true digest over one flipped byte (it must fail).
"""

from __future__ import annotations

from contract import (
    ContractViolation,
    check_bounded,
    check_path,
    expect,
    instrumented,
    main,
    mutate,
    scratch_dir,
)

with instrumented():
    from hullscan.blob import BlobRef
    from hullscan.errors import ImageError
    from hullscan.inventory import default_analyzers
    from hullscan.layers import TarLayerSource, analyze_layer
    from hullscan.sources.interface import sha256_digest
    from hullscan.streams import GZIP_MAGIC, ZSTD_MAGIC, Limits

    from analyzers import check_result

ANALYZERS = default_analyzers()
#: small bounds, so a bomb stops quickly (what they are is tested elsewhere)
LIMITS = Limits(
    max_layer_bytes=8 * 1024 * 1024, max_ratio=100, ratio_after=64 * 1024, max_entries=4096
)
BLOB = str(scratch_dir("layer") / "blob")


def _source(blob: bytes, digest: str | None, diff_id: str | None) -> TarLayerSource:
    with open(BLOB, "wb") as f:
        f.write(blob)
    return TarLayerSource(
        blob=BlobRef(BLOB),
        label="layer 0",
        digest=digest,
        size=len(blob) if digest else None,
        diff_id=diff_id,
    )


def _walk(blob: bytes, digest: str | None, diff_id: str | None) -> None:
    source = _source(blob, digest, diff_id)
    out = expect(lambda: analyze_layer(source, ANALYZERS, LIMITS, debug=True), (ImageError,))
    if out is None:
        return
    check_bounded(
        len(out.files) + len(out.whiteouts) + len(out.opaque_dirs), LIMITS.max_entries, "entries"
    )
    for f in out.files:
        check_path(f.path, "file")
        if f.linkname and f.type.value == "hardlink":
            check_path(f.linkname, "hard link target")
    for p in [*out.whiteouts, *out.opaque_dirs, *out.results]:
        check_path(p, "whiteout, opaque directory or result")
    for by in out.results.values():
        for result in by.values():
            check_result(result, LIMITS.max_layer_bytes)


def _uncompressed(blob: bytes) -> bytes | None:
    """The tar inside ``blob`` when it decompresses cleanly and is small, else None."""
    import gzip

    import zstandard

    try:
        if blob.startswith(GZIP_MAGIC):
            return gzip.decompress(blob)
        if blob.startswith(ZSTD_MAGIC):
            return zstandard.ZstdDecompressor().decompress(blob, max_output_size=1 << 22)
    except Exception:
        return None
    return blob


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, blob = data[0] % 3, data[1:]
    if mode == 0:
        _walk(blob, None, None)
    elif mode == 1:
        tar = _uncompressed(blob)
        _walk(blob, sha256_digest(blob), sha256_digest(tar) if tar is not None else None)
    elif blob:
        source = _source(mutate(blob, data[0] // 3), sha256_digest(blob), None)
        try:
            analyze_layer(source, ANALYZERS, LIMITS, debug=True)
        except ImageError:
            return
        raise ContractViolation("a layer whose bytes do not match its digest was accepted")


if __name__ == "__main__":
    main(test_one_input)
