"""A real OCI Distribution registry (Debian's ``docker-registry``) on 127.0.0.1 for tests,
and skopeo to push images into it. Tests using it skip without them
(``bash scripts/registry.sh`` installs the registry)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO = shutil.which("skopeo")
REF_NAME = "org.opencontainers.image.ref.name"
USER, PASSWORD = "scanner", "s3cret-pa55"

needs_registry = pytest.mark.skipif(
    not os.access(REGISTRY, os.X_OK) or SKOPEO is None,
    reason="needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    host: str
    proc: subprocess.Popen[bytes]
    log: Path


def start_registry(root: Path, auth: dict[str, Any] | None = None) -> Registry:
    port = free_port()
    storage = root / "storage"
    storage.mkdir(parents=True)
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if auth:
        config["auth"] = auth
    cfg = root / "config.yml"
    cfg.write_text(json.dumps(config))  # JSON is YAML
    log = root / "registry.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([REGISTRY, "serve", str(cfg)], stdout=out,
                                stderr=subprocess.STDOUT)
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://{host}/v2/", timeout=1).status_code in (200, 401):
                return Registry(host, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"docker-registry did not start: {log.read_text()[-2000:]}")


def stop_registry(reg: Registry) -> None:
    reg.proc.terminate()
    try:
        reg.proc.wait(10)
    except subprocess.TimeoutExpired:
        reg.proc.kill()
        reg.proc.wait()


def push(layout: Path, tag: str, dest: str, creds: str | None = None) -> None:
    assert SKOPEO is not None
    cmd = [SKOPEO, "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
           *(["--dest-creds", creds] if creds else []),
           f"oci:{layout}:{tag}", f"docker://{dest}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
