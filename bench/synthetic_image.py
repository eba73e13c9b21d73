"""Write a large synthetic image: a docker archive of incompressible data, for throughput.

    python bench/synthetic_image.py /tmp/synthetic-4g.tar --size-gb 4 [--layers 8] [--files 8]

The archive has Docker 25+'s layout (``blobs/sha256/<hex>`` members, ``manifest.json``
and an OCI ``index.json``), with uncompressed layers, so each layer's blob digest and its
diff-id are the same bytes. Each layer holds ``--files`` files of random bytes (AES-CTR
keystream: incompressible, fast to make, the same for the same ``--seed``) and one small
text file with a made-up token, so secret scanners have one thing to find per layer.

Nothing is held in memory beyond one chunk: each member's header is written with a
placeholder name, its data streamed and hashed, and the header rewritten in place once
the digest is known (the name's length is fixed, so the header's size is too).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tarfile
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CHUNK = 4 * 1024 * 1024
BLOCK = 512
MTIME = 1_700_000_000
PLACEHOLDER = "blobs/sha256/" + "0" * 64


def _header(name: str, size: int, mode: int = 0o644) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, MTIME
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


class _Keystream:
    """Incompressible bytes from AES-CTR; one stream per (seed, layer, file)."""

    def __init__(self, seed: int, layer: int, index: int) -> None:
        key = hashlib.sha256(f"{seed}/{layer}/{index}".encode()).digest()
        self._enc = Cipher(algorithms.AES(key), modes.CTR(b"\0" * 16)).encryptor()
        self._zeros = bytes(CHUNK)

    def read(self, n: int) -> bytes:
        return self._enc.update(self._zeros[:n])


def _secret_file(seed: int, layer: int) -> bytes:
    token = hashlib.sha256(f"token/{seed}/{layer}".encode()).hexdigest()[:36]
    return f"# deploy settings\nGITHUB_TOKEN=ghp_{token}\n".encode()


def layer_size(n_files: int, file_size: int, secret: bytes) -> int:
    """Bytes of the layer tar ``write_layer`` produces (the outer header needs it first)."""
    per_file = BLOCK + file_size + (-file_size % BLOCK)
    return BLOCK + n_files * per_file + BLOCK + len(secret) + len(_pad(len(secret))) + 2 * BLOCK


def write_layer(
    out: BinaryIO,
    hasher: hashlib._Hash,
    seed: int,
    layer: int,
    n_files: int,
    file_size: int,
    secret: bytes,
) -> None:
    def emit(data: bytes) -> None:
        hasher.update(data)
        out.write(data)

    directory = f"data/layer{layer}"
    info = tarfile.TarInfo(directory)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
    emit(info.tobuf(format=tarfile.USTAR_FORMAT))
    for index in range(n_files):
        emit(_header(f"{directory}/blob{index:03d}.bin", file_size))
        stream, left = _Keystream(seed, layer, index), file_size
        while left:
            chunk = stream.read(min(CHUNK, left))
            emit(chunk)
            left -= len(chunk)
        emit(_pad(file_size))
    emit(_header(f"{directory}/deploy.env", len(secret)))
    emit(secret + _pad(len(secret)))
    emit(b"\0" * (2 * BLOCK))


def _member_streamed(out: BinaryIO, size: int, fill: object) -> str:
    """Write a member named after its own sha256; ``fill(out, hasher)`` writes its data."""
    start = out.tell()
    out.write(_header(PLACEHOLDER, size))
    hasher = hashlib.sha256()
    fill(out, hasher)  # type: ignore[operator]
    end = out.tell()
    assert end - start - BLOCK == size, "layer size mismatch"
    out.write(_pad(size))
    digest = hasher.hexdigest()
    after = out.tell()
    out.seek(start)
    out.write(_header(f"blobs/sha256/{digest}", size))
    out.seek(after)
    return digest


def _member(out: BinaryIO, name: str, data: bytes) -> None:
    out.write(_header(name, len(data)))
    out.write(data + _pad(len(data)))


def _blob(out: BinaryIO, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    _member(out, f"blobs/sha256/{digest}", data)
    return digest


def generate(dest: Path, size_gb: float, layers: int, files: int, seed: int) -> None:
    file_size = int(size_gb * 1024**3 / (layers * files)) // BLOCK * BLOCK
    with open(dest, "wb", buffering=CHUNK) as out:
        layer_digests, sizes = [], []
        for layer in range(layers):
            secret = _secret_file(seed, layer)
            size = layer_size(files, file_size, secret)
            digest = _member_streamed(
                out,
                size,
                lambda o, h, layer=layer, secret=secret: write_layer(
                    o, h, seed, layer, files, file_size, secret
                ),
            )
            layer_digests.append(digest)
            sizes.append(size)
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "created": "2023-11-14T22:13:20Z",
                "config": {"Cmd": ["/bin/true"]},
                "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in layer_digests]},
                "history": [
                    {
                        "created": "2023-11-14T22:13:20Z",
                        "created_by": f"COPY data/layer{i} /data/layer{i}",
                    }
                    for i in range(layers)
                ],
            },
            separators=(",", ":"),
        ).encode()
        config_hex = _blob(out, config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": f"sha256:{config_hex}",
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": f"sha256:{d}",
                        "size": s,
                    }
                    for d, s in zip(layer_digests, sizes, strict=True)
                ],
            },
            separators=(",", ":"),
        ).encode()
        manifest_hex = _blob(out, manifest)
        tag = f"synthetic:{size_gb:g}g"
        _member(
            out,
            "index.json",
            json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [
                        {
                            "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": f"sha256:{manifest_hex}",
                            "size": len(manifest),
                            "annotations": {
                                "io.containerd.image.name": f"docker.io/library/{tag}",
                                "org.opencontainers.image.ref.name": tag,
                            },
                        }
                    ],
                }
            ).encode(),
        )
        _member(
            out,
            "manifest.json",
            json.dumps(
                [
                    {
                        "Config": f"blobs/sha256/{config_hex}",
                        "RepoTags": [tag],
                        "Layers": [f"blobs/sha256/{d}" for d in layer_digests],
                    }
                ]
            ).encode(),
        )
        _member(out, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        out.write(b"\0" * (2 * BLOCK))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--size-gb", type=float, default=4.0, help="data bytes in all layers")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--files", type=int, default=8, help="random-data files per layer")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    generate(args.dest, args.size_gb, args.layers, args.files, args.seed)


if __name__ == "__main__":
    main()
