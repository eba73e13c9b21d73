"""``hullscan pin``: FROM image:tag → image:tag@sha256:…, from an OCI layout and from a real
registry on 127.0.0.1; ``--check`` for CI."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullscan.cli import main

from imagebuilder import (
    build,
    debian_base,
    file,
    manifest_descriptor,
    write_image_blobs,
    write_index_blob,
    write_oci,
    write_oci_index,
)
from localregistry import (
    REF_NAME,
    REGISTRY,
    SKOPEO,
    needs_registry,
    push,
    start_registry,
    stop_registry,
)

DOCKERFILE = """\
# syntax=docker/dockerfile:1
ARG BASE=registry.example.com/team/base:1
FROM registry.example.com/team/base:1 AS build
RUN make
FROM build AS test
FROM scratch AS empty
FROM ${BASE}
COPY --from=build /out /out
FROM registry.example.com/team/base:1@sha256:%s AS pinned
""" % ("0" * 64)


@pytest.fixture()
def layout(tmp_path: Path) -> tuple[Path, str]:
    img = build([debian_base()])
    root = write_oci(
        [(img, {"annotations": {REF_NAME: "registry.example.com/team/base:1"}})],
        tmp_path / "layout",
    )
    return root, img.manifest_digest


def test_check_lists_unpinned_without_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = tmp_path / "Dockerfile"
    df.write_text(DOCKERFILE + "ARG TAG\nFROM debian:$TAG\n")
    assert main(["pin", "--check", str(df)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{df}:3: registry.example.com/team/base:1: not pinned by digest",
        f"{df}:2: registry.example.com/team/base:1: not pinned by digest",
        f"{df}:11: debian:$TAG: built from variables; cannot be pinned here",
    ]
    done = tmp_path / "Pinned.Dockerfile"
    done.write_text("FROM debian:12@sha256:" + "1" * 64 + " AS a\nFROM a\nFROM scratch\n")
    assert main(["pin", "--check", str(done)]) == 0


def test_pin_from_a_layout(
    tmp_path: Path, layout: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, digest = layout
    df = tmp_path / "Dockerfile"
    df.write_text(DOCKERFILE)
    df.chmod(0o640)
    assert main(["pin", "--layout", str(root), str(df)]) == 0
    want = f"registry.example.com/team/base:1@{digest}"
    assert df.read_text() == (
        DOCKERFILE.replace("ARG BASE=registry.example.com/team/base:1", f"ARG BASE={want}").replace(
            "FROM registry.example.com/team/base:1 AS build", f"FROM {want} AS build"
        )
    )
    assert df.stat().st_mode & 0o777 == 0o640
    assert f"{df}:3: registry.example.com/team/base:1 -> {want}" in capsys.readouterr().out
    assert main(["pin", "--check", str(df)]) == 0
    before = df.read_text()
    assert main(["pin", "--layout", str(root), str(df)]) == 0  # nothing left to do
    assert df.read_text() == before


def test_unknown_image_changes_nothing(
    tmp_path: Path, layout: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = layout
    df = tmp_path / "Dockerfile"
    text = "FROM registry.example.com/team/base:1\nFROM registry.example.com/team/other:2\n"
    df.write_text(text)
    assert main(["pin", "--layout", str(root), str(df)]) == 2
    assert "no image named 'registry.example.com/team/other:2'" in capsys.readouterr().err
    assert df.read_text() == text  # all resolved before anything is written


def test_layout_name_spelled_differently(tmp_path: Path) -> None:
    img = build([debian_base()])
    root = write_oci(
        [(img, {"annotations": {REF_NAME: "docker.io/library/debian:12"}})], tmp_path / "layout"
    )
    df = tmp_path / "Dockerfile"
    df.write_text("FROM debian:12\n")
    assert main(["pin", "--layout", str(root), str(df)]) == 0
    assert df.read_text() == f"FROM debian:12@{img.manifest_digest}\n"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A registry with test/app:1 (one image) and test/multi:2 (an index of two)."""
    root = tmp_path_factory.mktemp("pin-registry")
    amd = build([debian_base()], arch="amd64")
    arm = build([debian_base(), [file("etc/arch", "arm64\n")]], arch="arm64")
    single = write_oci([(amd, {"annotations": {REF_NAME: "1"}})], root / "single")
    multi = root / "multi"
    write_image_blobs(multi, amd)
    write_image_blobs(multi, arm)
    index = write_index_blob(
        multi,
        [
            manifest_descriptor(amd, platform={"os": "linux", "architecture": "amd64"}),
            manifest_descriptor(arm, platform={"os": "linux", "architecture": "arm64"}),
        ],
        annotations={REF_NAME: "2"},
    )
    write_oci_index(multi, [index])
    if not os.access(REGISTRY, os.X_OK) or SKOPEO is None:
        pytest.skip("needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo")
    reg = start_registry(root / "registry")
    try:
        push(single, "1", f"{reg.host}/test/app:1")
        assert SKOPEO is not None
        done = subprocess.run(
            [
                SKOPEO,
                "--insecure-policy",
                "copy",
                "--quiet",
                "--multi-arch",
                "all",
                "--dest-tls-verify=false",
                f"oci:{multi}:2",
                f"docker://{reg.host}/test/multi:2",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        yield reg.host, amd.manifest_digest, index["digest"]
    finally:
        stop_registry(reg)


@needs_registry
def test_pin_from_a_registry(tmp_path: Path, registry: tuple[str, str, str]) -> None:
    host, app_digest, index_digest = registry
    df = tmp_path / "Dockerfile"
    df.write_text(
        f"FROM {host}/test/app:1 AS app\nFROM --platform=$BUILDPLATFORM "
        f"{host}/test/multi:2\nCOPY --from=app /etc/os-release /\n"
    )
    assert main(["pin", str(df)]) == 0
    # the peer's answer: skopeo reports the same digest for the tag
    assert SKOPEO is not None
    inspected = subprocess.run(
        [
            SKOPEO,
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            f"docker://{host}/test/app:1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert inspected.stdout.strip() == app_digest
    assert df.read_text() == (
        f"FROM {host}/test/app:1@{app_digest} AS app\n"
        f"FROM --platform=$BUILDPLATFORM {host}/test/multi:2@{index_digest}"
        "\nCOPY --from=app /etc/os-release /\n"
    )


@needs_registry
def test_pin_missing_tag_in_registry(
    tmp_path: Path, registry: tuple[str, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    host = registry[0]
    df = tmp_path / "Dockerfile"
    df.write_text(f"FROM {host}/test/app:404\n")
    assert main(["pin", str(df)]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and len(err.strip().splitlines()) == 1
    assert df.read_text() == f"FROM {host}/test/app:404\n"
