"""The services the scale-out tests need, each isolated per test session: a database of
its own on the machine's PostgreSQL, a key prefix on its Redis, queue names of their own
on its RabbitMQ; and private, restartable Redis and PostgreSQL instances for the fault
tests. Installed by ``scripts/server-services.sh`` (the Makefile runs it). Without a
service a test skips, except in CI (``CI=true``), where it fails."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from localregistry import free_port

PG_URL = os.environ.get("HULLSCAN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("HULLSCAN_TEST_REDIS", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("HULLSCAN_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
PG_BIN = Path("/usr/lib/postgresql") / "15" / "bin"


def missing(what: str) -> None:
    """Skip, or fail in CI: a service test never skips silently there."""
    message = f"{what} (bash scripts/server-services.sh installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def reachable(url_host: str, port: int) -> bool:
    try:
        with socket.create_connection((url_host, port), timeout=2):
            return True
    except OSError:
        return False


def pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else name


@dataclass(frozen=True)
class PgDatabase:
    url: str
    name: str


def create_database(admin_url: str) -> PgDatabase:
    import psycopg

    name = f"hullscan_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PgDatabase(f"{admin_url}/{name}", name)


def drop_database(admin_url: str, db: PgDatabase) -> None:
    import psycopg

    with psycopg.connect(f"{admin_url}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')


def redis_cleanup(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
    except redis.ConnectionError:
        pass  # a private instance, gone with its files
    finally:
        client.close()


def amqp_cleanup(url: str, queue: str) -> None:
    from kombu import Connection

    with Connection(url) as conn:
        channel = conn.channel()
        for name in (queue, f"{queue}.dlq"):
            try:
                channel.queue_delete(name)
            except Exception:  # never declared
                channel = conn.channel()


class PrivateRedis:
    """redis-server on a free port with an append-only file: restarts keep the queue."""

    def __init__(self, root: Path) -> None:
        if shutil.which("redis-server") is None:
            missing("redis-server is not installed")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.root),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb, pg_ctl) on a free port, run as the
    postgres user when the tests run as root (PostgreSQL refuses root)."""

    def __init__(self) -> None:
        if not Path(pg_bin("initdb")).exists():
            missing("PostgreSQL's initdb is not installed")
        # under /tmp itself: pytest's own directories are closed to the postgres user
        root = self.root = Path(tempfile.mkdtemp(prefix="hullscan-pg-"))
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}"
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        self._run(
            [
                pg_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )
        self.start()

    def _run(self, cmd: list[str]) -> None:
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(
            cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120
        )

    def start(self) -> None:
        self._run(
            [
                pg_bin("pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.root / "log"),
                "-o",
                f"-p {self.port} -k {self.root} -h 127.0.0.1 -F",
                "-w",
                "start",
            ]
        )

    def stop(self) -> None:
        self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reachable("127.0.0.1", port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class SlowProxy:
    """A TCP proxy to a registry that delivers each 16 KiB of an answer every
    ``delay`` seconds: a slow network, so a scan is still running when a test needs it."""

    def __init__(self, upstream_port: int, delay: float = 0.05) -> None:
        self.upstream = upstream_port
        self.delay = delay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.host = f"127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pipe, args=(client, upstream, 0.0), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(upstream, client, self.delay), daemon=True
            ).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, delay: float) -> None:
        try:
            while data := src.recv(16384):
                dst.sendall(data)
                if delay:
                    time.sleep(delay)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()
