"""The scale-out deployment: ``hullscan server`` publishing to Celery on Redis or
RabbitMQ, ``hullscan worker`` processes, results in PostgreSQL; and its faults: a
worker killed mid-scan, a broker restarted while jobs wait, PostgreSQL unreachable."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from imagebuilder import build, file, python_dist
from localregistry import needs_registry
from serverkit import (
    API_KEY,
    ROBOT_AUTH,
    ROBOT_SECRET,
    SBOM,
    HarborClient,
    HarborSpec,
    Proc,
    RobotRegistry,
    Server,
    push_built,
    robot_registry,
    server_config,
    server_vulndb,
    spawn,
    start_server,
)
from services import (
    AMQP_URL,
    PG_URL,
    REDIS_URL,
    PgDatabase,
    PrivatePostgres,
    PrivateRedis,
    SlowProxy,
    amqp_cleanup,
    create_database,
    drop_database,
    missing,
    reachable,
    redis_cleanup,
)

pytestmark = needs_registry
__all__ = ["robot_registry", "server_vulndb"]  # fixtures
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def pg() -> Iterator[PgDatabase]:
    if not reachable("127.0.0.1", 5432):
        missing("PostgreSQL is not running on 127.0.0.1:5432")
    db = create_database(PG_URL)
    yield db
    drop_database(PG_URL, db)


@pytest.fixture
def queue_name() -> str:
    return f"hullscan-test-{uuid.uuid4().hex[:10]}"


class Deployment:
    """One server and its workers, all on loopback, sharing one layer cache."""

    def __init__(self, root: Path, db: Path, broker: str, queue: str, store: str) -> None:
        self.root, self.db, self.broker, self.queue, self.store = root, db, broker, queue, store
        self.cache = root / "cache"
        self.config = server_config(root / "etc")
        self.workers: list[Proc] = []
        self.server: Server | None = None

    def common(self) -> list[str]:
        return [
            "--queue",
            self.broker,
            "--queue-name",
            self.queue,
            "--store",
            self.store,
            "--cache-dir",
            str(self.cache),
            "--db",
            str(self.db),
            "--config",
            str(self.config),
        ]

    def start_server(self) -> Server:
        self.server = start_server(self.common(), self.root / "server.log")
        return self.server

    def start_worker(self, *extra: str) -> Proc:
        n = len(self.workers)
        w = spawn(["worker", *self.common(), *extra], self.root / f"worker{n}.log")
        self.workers.append(w)
        return w

    def wait_ready(self, worker: Proc, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while "ready." not in worker.text():
            assert worker.proc.poll() is None, worker.text()[-3000:]
            assert time.monotonic() < deadline, worker.text()[-3000:]
            time.sleep(0.2)

    def harbor(self, spec: HarborSpec) -> HarborClient:
        assert self.server is not None
        return HarborClient(self.server.url, {"X-ScannerAdapter-API-Key": API_KEY}, spec)

    def state(self, scan_id: str) -> dict[str, object]:
        assert self.server is not None
        doc: dict[str, object] = httpx.get(
            f"{self.server.url}/v1/scans/{scan_id}", headers=AUTH, timeout=5
        ).json()
        return doc

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        if self.server is not None:
            self.server.stop()


@pytest.fixture
def deployment(
    tmp_path: Path, server_vulndb: Path, queue_name: str
) -> Iterator[Callable[[str, str], Deployment]]:
    made: list[Deployment] = []

    def make(broker: str, store: str) -> Deployment:
        d = Deployment(tmp_path, server_vulndb, broker, queue_name, store)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()
        if d.broker.startswith("redis://"):
            redis_cleanup(d.broker, f"{d.queue}:")
        elif d.broker.startswith("amqp://"):
            amqp_cleanup(d.broker, d.queue)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def slow_image(root: Path, reg: RobotRegistry, repository: str) -> tuple[str, str]:
    """An image with 1 MiB that does not compress, pushed: (repository, digest)."""
    image = build(
        [
            [
                file("opt/blob.bin", os.urandom(1024 * 1024)),
                python_dist(repository.replace("/", "-"), "1.0"),
            ]
        ]
    )
    pushed = push_built(image, root, reg.registry, repository)
    return pushed.repository, pushed.digest


def test_redis_workers_and_postgresql(
    deployment: Callable[[str, str], Deployment], robot_registry: RobotRegistry, pg: PgDatabase
) -> None:
    if not reachable("127.0.0.1", 6379):
        missing("Redis is not running on 127.0.0.1:6379")
    d = deployment(REDIS_URL, pg.url)
    d.start_server()
    workers = [d.start_worker(), d.start_worker()]
    spec = HarborSpec()
    with d.harbor(spec) as harbor:
        app, other = robot_registry.app, robot_registry.other
        first = harbor.scan(
            robot_registry.url,
            app.repository,
            app.digest,
            authorization=ROBOT_AUTH,
            capabilities=[{"type": "vulnerability"}],
        )
        second = harbor.scan(
            robot_registry.url,
            other.repository,
            other.digest,
            authorization=ROBOT_AUTH,
            capabilities=[{"type": "sbom"}],
        )
        vulns = harbor.report(first.json()["id"]).json()["vulnerabilities"]
        assert any(v["package"] == "requests" for v in vulns)
        sbom = harbor.report(
            second.json()["id"], accept=SBOM, sbom_media_type="application/spdx+json"
        ).json()
        assert sbom["sbom"]["spdxVersion"] == "SPDX-2.3"
    assert httpx.get(f"{d.server.url}/readyz").status_code == 200  # type: ignore[union-attr]
    metrics = httpx.get(f"{d.server.url}/metrics", headers=AUTH).text  # type: ignore[union-attr]
    assert 'hullscan_scans{status="done"} 2.0' in metrics
    assert "hullscan_queue_depth 0.0" in metrics
    # the results are in PostgreSQL, with the inventories to re-match later
    from hullscan.jobs.store import Store

    store = Store(pg.url, migrate=False)
    assert store.get_inventory(app.digest) is not None
    assert {s.job.digest for s in store.list_scans()} >= {app.digest, other.digest}
    store.close()
    # credentials went through the broker only: nothing in the worker logs
    for w in workers:
        assert ROBOT_SECRET not in w.text() and ROBOT_AUTH.split()[1] not in w.text()


def test_killed_worker_job_runs_again_elsewhere(
    deployment: Callable[[str, str], Deployment],
    robot_registry: RobotRegistry,
    pg: PgDatabase,
    tmp_path: Path,
) -> None:
    if not reachable("127.0.0.1", 5672):
        missing("RabbitMQ is not running on 127.0.0.1:5672")
    repository, digest = slow_image(tmp_path / "img", robot_registry, "team/killed")
    proxy = SlowProxy(int(robot_registry.registry.host.rsplit(":", 1)[1]))
    d = deployment(AMQP_URL, pg.url)
    d.start_server()
    workers = [d.start_worker(), d.start_worker()]
    for w in workers:
        d.wait_ready(w)
    with d.harbor(HarborSpec()) as harbor:
        r = harbor.scan(
            f"http://{proxy.host}",
            repository,
            digest,
            authorization=ROBOT_AUTH,
            capabilities=[{"type": "vulnerability"}],
        )
        scan_id = r.json()["id"]
        wait_for(lambda: d.state(scan_id)["status"] == "running", 60, "the scan to start")
        busy = next(w for w in workers if f"team/killed@{digest}" in w.text())
        busy.proc.send_signal(signal.SIGKILL)
        busy.proc.wait()
        report = harbor.report(scan_id, max_wait=120)
        assert report.status_code == 200, report.text
    state = d.state(scan_id)
    assert state["status"] == "done" and state["attempts"] == 2
    survivor = next(w for w in workers if w is not busy)
    assert f"team/killed@{digest}" in survivor.text()
    proxy.close()


def test_redis_restart_loses_no_waiting_job(
    deployment: Callable[[str, str], Deployment],
    robot_registry: RobotRegistry,
    pg: PgDatabase,
    tmp_path: Path,
) -> None:
    redis = PrivateRedis(tmp_path / "redis")
    own = create_database(PG_URL)  # a store of its own: no earlier test scanned these
    try:
        d = deployment(redis.url, own.url)
        d.start_server()
        with d.harbor(HarborSpec()) as harbor:
            ids = []
            for image, caps in (
                (robot_registry.app, [{"type": "vulnerability"}]),
                (robot_registry.other, [{"type": "vulnerability"}]),
                (robot_registry.app, [{"type": "sbom"}]),
            ):
                r = harbor.scan(
                    robot_registry.url,
                    image.repository,
                    image.digest,
                    authorization=ROBOT_AUTH,
                    capabilities=caps,
                )
                assert r.status_code == 202
                ids.append(r.json()["id"])
            assert all(d.state(i)["status"] == "queued" for i in ids)
            redis.kill()  # no worker has taken them yet
            redis.start()
            d.start_worker()
            for i in ids:
                assert harbor.report(i, max_wait=120).status_code in (200, 400)
        assert all(d.state(i)["status"] == "done" for i in ids)
    finally:
        redis.stop()
        d.stop()
        drop_database(PG_URL, own)


def test_postgresql_unreachable(
    deployment: Callable[[str, str], Deployment], robot_registry: RobotRegistry, tmp_path: Path
) -> None:
    if not reachable("127.0.0.1", 6379):
        missing("Redis is not running on 127.0.0.1:6379")
    postgres = PrivatePostgres()
    try:
        db = create_database(postgres.url)
        repository, digest = slow_image(tmp_path / "img", robot_registry, "team/outage")
        proxy = SlowProxy(int(robot_registry.registry.host.rsplit(":", 1)[1]))
        d = deployment(REDIS_URL, db.url)
        server = d.start_server()
        worker = d.start_worker()
        with d.harbor(HarborSpec()) as harbor:
            r = harbor.scan(
                f"http://{proxy.host}",
                repository,
                digest,
                authorization=ROBOT_AUTH,
                capabilities=[{"type": "vulnerability"}],
            )
            scan_id = r.json()["id"]
            wait_for(lambda: d.state(scan_id)["status"] == "running", 90, "the scan to start")
            postgres.stop()
            ready = httpx.get(f"{server.url}/readyz", timeout=10)
            assert ready.status_code == 503
            assert "result store unreachable" in ready.json()["error"]["message"]
            refused = harbor.http.post(
                "/api/v1/scan",
                timeout=10,
                json={
                    "registry": {"url": robot_registry.url},
                    "artifact": {"repository": "team/app", "digest": "sha256:" + "b" * 64},
                },
            )
            assert refused.status_code == 500
            harbor.spec.check("/scan", "post", refused)
            wait_for(lambda: "will retry" in worker.text(), 90, "the worker to retry")
            postgres.start()
            assert harbor.report(scan_id, max_wait=120).status_code == 200
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        state = d.state(scan_id)
        assert state["status"] == "done" and int(str(state["attempts"])) >= 2
        from hullscan.jobs.store import Store

        store = Store(db.url, migrate=False)
        assert store.get_inventory(digest) is not None  # report and inventory, together
        store.close()
        proxy.close()
    finally:
        postgres.remove()
