"""docker:NAME — images from a Docker or Podman engine's API, exported into the verified
pipeline; a scripted engine serves real ``docker save`` streams."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import pytest

from engineapi import Engine, EngineImage, serve_tcp, serve_unix
from hullscan.cli import main
from hullscan.errors import ImageError
from hullscan.sources import open_image
from hullscan.sources.docker_engine import Endpoint, endpoint
from squashview import scan_json

from conftest import corpus_image
from imagebuilder import (
    build,
    docker_archive_members,
    file,
    write_docker_archive,
    write_tar,
)
from localregistry import make_ca


def _archive(tmp_path: Path, tag: str = "app:1") -> tuple[Path, str]:
    img = build(
        [
            [file("etc/os-release", "ID=debian\nVERSION_ID=12\n")],
            [file("app/main.py", "print('hi')\n")],
        ]
    )
    path = write_docker_archive([(img, [tag])], tmp_path / "app.tar")
    return path, img.config_digest


def _sbom(ref: str, tmp_path: Path, cache: Path) -> dict[str, Any]:
    out = tmp_path / "sbom.json"
    assert (
        main(["sbom", ref, "--format", "json", "-o", str(out), "--cache-dir", str(cache), "-q"])
        == 0
    )
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def _packages(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((p["type"], p["name"], p["version"]) for p in doc["packages"])


@pytest.fixture
def socket_path(tmp_path: Path) -> Path:
    return tmp_path / "docker.sock"


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["debian-bookworm", "app-python"])
def test_engine_image_reads_like_its_archive(
    name: str, tmp_path: Path, socket_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = corpus_image(name) / "docker-archive.tar"
    direct = open_image(f"docker-archive:{archive}", cache_dir=tmp_path / "c")
    assert direct.config_digest
    engine = Engine(
        {f"corpus/{name}:latest": EngineImage(archive, direct.config_digest, export="chunked")}
    )
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    cache = tmp_path / "cache"
    with serve_unix(engine, socket_path):
        via_engine = _sbom(f"docker:corpus/{name}:latest", tmp_path, cache)
        assert _packages(via_engine) == _packages(_sbom(str(archive), tmp_path, cache))
        assert via_engine["image"]["config_digest"] == direct.config_digest
        # the export is kept under the image id: a second read asks only for the id
        exports = [r for r in engine.requests if r.endswith("/get")]
        _sbom(f"docker:corpus/{name}:latest", tmp_path, cache)
        assert [r for r in engine.requests if r.endswith("/get")] == exports
        assert len(exports) == 1
        # and squash reads it like any other image
        assert (
            main(
                [
                    "squash",
                    f"docker:corpus/{name}:latest",
                    str(tmp_path / "flat.tar"),
                    "--cache-dir",
                    str(cache),
                ]
            )
            == 0
        )
    assert len(open_image(str(tmp_path / "flat.tar"), cache_dir=cache).layers) == 1


def test_engine_errors(
    tmp_path: Path,
    socket_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive, config_digest = _archive(tmp_path)
    cache = tmp_path / "cache"

    def scan(ref: str) -> str:
        assert main(["sbom", ref, "--cache-dir", str(cache), "-q"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        return err

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'nothing.sock'}")
    assert "no Docker engine" in scan("docker:app:1")

    # a tampered layer: the export's layer does not match the config's diff-id
    members = docker_archive_members(
        [(build([[file("etc/os-release", "ID=debian\n")]], compression="none"), ["bad:1"])]
    )
    layer = next(n for n in members if n.endswith("layer.tar"))
    members[layer] = members[layer].replace(b"ID=debian", b"ID=evilos")
    tampered = write_tar(tmp_path / "tampered.tar", members)
    bad_config = next(n for n in members if n.endswith(".json") and n != "manifest.json")
    engine = Engine(
        {
            "app:1": EngineImage(archive, config_digest),
            "cut:1": EngineImage(archive, config_digest, export="truncate"),
            "bad:1": EngineImage(tampered, f"sha256:{bad_config.removesuffix('.json')}"),
            "other:1": EngineImage(archive, "sha256:" + "0" * 64),
        }
    )
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    with serve_unix(engine, socket_path):
        assert "no such image in the Docker engine" in scan("docker:missing:1")
        assert "broke off" in scan("docker:cut:1")
        assert "digest mismatch" in scan("docker:bad:1")
        assert "not image sha256:000" in scan("docker:other:1")
        assert "no image name" in scan("docker:")
        # nothing but complete, verified exports is kept
        kept = cache / "docker"
        assert not kept.exists() or not list(kept.iterdir())
        assert main(["sbom", "docker:app:1", "--cache-dir", str(cache), "-q"]) == 0
        assert [p.name for p in kept.iterdir()] == [f"{config_digest[7:]}.tar"]


def test_engine_over_tcp_with_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive, config_digest = _archive(tmp_path)
    ca = make_ca(tmp_path / "pki")
    certs = tmp_path / "docker-certs"
    certs.mkdir()
    (certs / "ca.pem").write_bytes(ca.ca.read_bytes())
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(str(ca.cert), str(ca.key))
    engine = Engine({"app:1": EngineImage(archive, config_digest)})
    with serve_tcp(engine, server_tls) as address:
        monkeypatch.setenv("DOCKER_HOST", f"tcp://{address}")
        monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
        monkeypatch.setenv("DOCKER_CERT_PATH", str(certs))
        image = open_image("docker:app:1", cache_dir=tmp_path / "cache")
        assert image.config_digest == config_digest and image.repo_tags == ("app:1",)
        # a CA that did not sign the engine's certificate is refused
        other = make_ca(tmp_path / "pki-other")
        monkeypatch.setenv("DOCKER_CERT_PATH", str(other.ca.parent))
        with pytest.raises(ImageError, match="did not answer"):
            open_image("docker:app:1", cache_dir=tmp_path / "cache2")


def test_endpoint_from_the_environment(tmp_path: Path) -> None:
    assert endpoint({"DOCKER_HOST": "unix:///run/user/1000/podman/podman.sock"}) == Endpoint(
        socket="/run/user/1000/podman/podman.sock"
    )
    plain = endpoint({"DOCKER_HOST": "tcp://127.0.0.1:2375"})
    assert plain.url == "http://127.0.0.1:2375" and plain.tls is None
    assert (
        endpoint(
            {
                "DOCKER_HOST": "tcp://127.0.0.1:2376",
                "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": str(tmp_path),
            }
        ).url
        == "https://127.0.0.1:2376"
    )
    with pytest.raises(ImageError, match="only unix:// and tcp://"):
        endpoint({"DOCKER_HOST": "ssh://me@host"})
    # no DOCKER_HOST: Docker's socket, else Podman's rootless one
    podman = tmp_path / "podman" / "podman.sock"
    podman.parent.mkdir()
    podman.touch()
    found = endpoint({"XDG_RUNTIME_DIR": str(tmp_path)}).socket
    assert found in ("/var/run/docker.sock", str(podman))
    assert found == str(podman) or Path("/var/run/docker.sock").exists()


def test_docker_double_slash_is_still_a_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hullscan.references import parse_reference

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'none.sock'}")
    assert parse_reference("docker://127.0.0.1:5000/app:1").host == "127.0.0.1:5000"
    with pytest.raises(ImageError, match="no Docker engine"):
        open_image("docker-daemon:app:1", cache_dir=tmp_path)


def test_engine_images_are_judged_by_their_tags(
    tmp_path: Path,
    socket_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive, config_digest = _archive(tmp_path, tag="registry.example.com/team/app:1")
    engine = Engine({"registry.example.com/team/app:1": EngineImage(archive, config_digest)})
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    cache = tmp_path / "cache"
    with serve_unix(engine, socket_path):
        report = scan_json("docker:registry.example.com/team/app:1", cache, "config,supplychain")
    assert report["image"]["transport"] == "docker"
    reference = report["summary"]["image"]["reference"]["image"]
    assert (reference["registry"], reference["repository"]) == ("registry.example.com", "team/app")
    assert not [f for f in report["findings"] if f["id"] == "HS-SC-003"]  # no policy given
    # an engine keeps no signatures
    key = tmp_path / "cosign.pub"
    key.write_text("not used")
    assert main(["verify", "docker:app:1", "--key", str(key)]) == 2
    assert "not in a Docker engine" in capsys.readouterr().err
