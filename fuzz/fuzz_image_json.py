"""Fuzz the image documents: an OCI layout's index.json, the manifest (or a nested index)
and the config, opened as ``oci:DIR``.

The input is the three documents, split at ``SEP``. Placeholders ``@M@``/``@MS@`` (the
manifest's digest and size), ``@C@``/``@CS@`` (the config's), ``@L@``/``@LS@`` (a small real
layer's) and ``@DL@`` (its diff-id) are filled in, so mutated documents still reach the
parser behind the digest checks. The first byte's low bit asks
for the digest check instead: the stored manifest gets one byte flipped, and opening it
must fail.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil

from contract import (
    SEP,
    ContractViolation,
    check_bounded,
    expect,
    instrumented,
    main,
    mutate,
    os_release_layer,
    scratch_dir,
)

with instrumented():
    from hullscan.errors import ImageError
    from hullscan.sources import open_image
    from hullscan.sources.interface import sha256_digest
    from hullscan.streams import Limits

LIMITS = Limits(max_json_bytes=256 * 1024)
ROOT = str(scratch_dir("oci"))


LAYER = gzip.compress(os_release_layer(), mtime=0)


def frame(index: bytes, manifest: bytes, config: bytes) -> bytes:
    """A seed from real documents, with their digests and sizes as placeholders."""

    def sub(doc: bytes, blob: bytes, d: bytes, s: bytes) -> bytes:
        digest = sha256_digest(blob).encode()
        return doc.replace(digest, d).replace(b'"size": %d' % len(blob), b'"size": ' + s)

    manifest_t = sub(manifest, config, b"@C@", b"@CS@")
    doc, cfg = json.loads(manifest), json.loads(config)
    for layer in doc["layers"]:
        manifest_t = manifest_t.replace(layer["digest"].encode(), b"@L@").replace(
            b'"size": %d' % layer["size"], b'"size": @LS@'
        )
    for diff_id in cfg["rootfs"]["diff_ids"]:
        config = config.replace(diff_id.encode(), b"@DL@")
    index_t = sub(index, manifest, b"@M@", b"@MS@")
    return b"\x00" + SEP.join([index_t, manifest_t, config])


def _layout(index: bytes, manifest: bytes, config: bytes, *, flip: int | None) -> tuple[str, str]:
    """Write the layout; return its reference and the manifest's true digest."""
    shutil.rmtree(ROOT, ignore_errors=True)
    blobs = os.path.join(ROOT, "blobs", "sha256")
    os.makedirs(blobs)
    with open(os.path.join(ROOT, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    config = config.replace(b"@DL@", sha256_digest(gzip.decompress(LAYER)).encode())
    manifest = manifest.replace(b"@L@", sha256_digest(LAYER).encode()).replace(
        b"@LS@", b"%d" % len(LAYER)
    )
    c = sha256_digest(config)
    manifest = manifest.replace(b"@C@", c.encode()).replace(b"@CS@", b"%d" % len(config))
    m = sha256_digest(manifest)
    index = index.replace(b"@M@", m.encode()).replace(b"@MS@", b"%d" % len(manifest))
    stored = mutate(manifest, flip) if flip is not None and manifest else manifest
    for digest, blob in ((c, config), (m, stored), (sha256_digest(LAYER), LAYER)):
        with open(os.path.join(blobs, digest.split(":")[1]), "wb") as f:
            f.write(blob)
    with open(os.path.join(ROOT, "index.json"), "wb") as f:
        f.write(index)
    return "oci:" + ROOT, m


def test_one_input(data: bytes) -> None:
    parts = data[1:].split(SEP)
    if not data or len(parts) != 3:
        return
    flip = data[0] >> 1 if data[0] & 1 else None
    ref, manifest_digest = _layout(*parts, flip=flip)
    image = expect(lambda: open_image(ref, limits=LIMITS), (ImageError,))
    if image is None:
        return
    if flip is not None and image.manifest_digest == manifest_digest:
        raise ContractViolation("a manifest that does not match its digest was accepted")
    check_bounded(len(image.layers), len(data), "layers")
    for layer in image.layers:
        if layer.digest is None or not layer.digest.startswith(("sha256:", "sha512:")):
            raise ContractViolation(f"layer without a valid digest: {layer.digest!r}")
    image.meta()


if __name__ == "__main__":
    main(test_one_input)
