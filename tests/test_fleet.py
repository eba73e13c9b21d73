"""End to end on this machine, as a platform team deploys it: images pushed to a local
registry (some signed with ``hullscan sign``); ``hullscan server`` over HTTPS (a test CA)
with its queue on Redis and its store on PostgreSQL, and two ``hullscan worker``
processes; ``fleet scan`` of the whole registry through that queue and store; admission
reviews of every workload kind sent to the server's ``/v1/admission``; ``fleet report``;
and ``fleet rematch`` after importing one real advisory.

Advisories are real OSV records from ../shared/vulndata (PyPI): PYSEC-2023-138
(langchain, CVE-2023-36095, CVSS 9.8) and, imported later, PYSEC-2021-142 (PyYAML,
CVE-2020-14343)."""

from __future__ import annotations

import base64
import io
import json
import os
import ssl
import time
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonpointer
import pytest
import yaml
from rich.console import Console

from hullscan.admission.evaluate import Evaluator
from hullscan.admission.policy import AdmissionPolicy
from hullscan.admission.webhook import AdmissionWebhook
from hullscan.cli import main
from hullscan.cli.fleet import fleet_bars
from hullscan.errors import HullscanError
from hullscan.fleet.catalog import parse_target
from hullscan.fleet.jobs import JobResult, StoreJobs
from hullscan.fleet.plan import FleetProgress, fleet_scan
from hullscan.jobs.queue import EmbeddedQueue
from hullscan.jobs.runner import WorkerContext
from hullscan.jobs.scanning import db_version
from hullscan.jobs.store import JobSpec, Status, Store
from hullscan.references import Reference
from hullscan.settings import Settings
from hullscan.sources.registry_client import RegistryClient
from hullscan.sources.registry_settings import RegistrySettings

from admissionreviews import pod_spec, review, workload
from conftest import VULNDATA
from imagebuilder import build, debian_base, file, python_dist, write_oci
from localregistry import (
    REF_NAME,
    REGISTRY,
    SKOPEO,
    LocalCA,
    make_ca,
    push,
    start_registry,
    stop_registry,
)
from serverkit import API_KEY, Proc, Server, spawn, start_server
from services import (
    PG_URL,
    REDIS_URL,
    create_database,
    drop_database,
    missing,
    reachable,
    redis_cleanup,
)

CRITICAL_ADVISORY = "PYSEC-2023-138"  # langchain < 0.0.236, CVE-2023-36095, CVSS 9.8
NEW_ADVISORY = "PYSEC-2021-142"  # PyYAML < 5.4, CVE-2020-14343
SCANNERS = ("vuln", "secret")


def _advisory(dest: Path, advisory_id: str) -> Path:
    archive = VULNDATA / "PyPI" / "all.zip"
    if not archive.is_file():
        pytest.skip(f"{archive} not found")
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as z:
        (dest / f"{advisory_id}.json").write_bytes(z.read(f"{advisory_id}.json"))
    return dest / f"{advisory_id}.json"


@dataclass
class Fleet:
    host: str
    root: Path
    store_url: str
    db: Path
    cache: Path
    ca: LocalCA
    server: Server
    digests: dict[str, str]  # image name -> manifest digest
    scan_output: dict[str, Any]

    def post(self, doc: Any, path: str = "/v1/admission") -> httpx.Response:
        """A request as the Kubernetes API server sends it: HTTPS, no hullscan key."""
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return httpx.post(
            self.server.url + path,
            content=body,
            timeout=10,
            headers={"Content-Type": "application/json"},
            verify=ssl.create_default_context(cafile=str(self.ca.ca)),
        )

    def decide(self, kind: str, images: list[str], path: str = "/v1/admission") -> dict[str, Any]:
        sent = review(workload(kind, pod_spec(images)))
        resp = self.post(sent, path)
        assert resp.status_code == 200, resp.text
        doc: dict[str, Any] = resp.json()
        assert doc["response"]["uid"] == sent["request"]["uid"]
        assert all(len(w) < 120 for w in doc["response"].get("warnings", []))
        return doc["response"]  # type: ignore[no-any-return]


def _image(name: str) -> Any:
    extra = {
        "app": [python_dist("requests", "2.32.3")],
        "unsigned": [file("etc/unsigned", "yes")],
        "critical": [python_dist("langchain", "0.0.200")],
        "yaml": [python_dist("PyYAML", "5.3")],
        "new": [file("etc/new", "yes")],
    }[name]
    return build([debian_base(), extra])


def _config(root: Path, host: str, **admission: Any) -> Path:
    """hullscan.yaml: the server's API key, and admission trusting adm/ signed by the
    test key (the trust policy in a file of its own, as teams keep it)."""
    from hullscan.server.settings import hash_key

    (root / "trust.yaml").write_text(
        yaml.safe_dump(
            {
                "trust": {
                    "policies": [
                        {"name": "team", "scopes": [f"{host}/adm"], "keys": ["cosign.pub"]}
                    ]
                }
            }
        )
    )
    path = root / "hullscan.yaml"
    # a first decision checks signatures in the registry: 0.4 s on a quiet machine, over
    # the default 2 s budget once on a loaded CI run; the budget has tests of its own
    # (test_admission.py), these are about the decisions
    admission = {"budget_seconds": 20, **admission}
    path.write_text(
        yaml.safe_dump(
            {
                "server": {"api_keys": [hash_key(API_KEY)]},
                "admission": {"trust_policy": "trust.yaml", **admission},
            }
        )
    )
    return path


def _wait_ready(worker: Proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while "ready." not in worker.text():
        assert worker.proc.poll() is None, worker.text()[-3000:]
        assert time.monotonic() < deadline, worker.text()[-3000:]
        time.sleep(0.2)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    if not os.access(REGISTRY, os.X_OK) or SKOPEO is None:
        pytest.skip("needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo")
    if not reachable("127.0.0.1", 6379):
        missing("Redis is not running on 127.0.0.1:6379")
    if not reachable("127.0.0.1", 5432):
        missing("PostgreSQL is not running on 127.0.0.1:5432")
    root = tmp_path_factory.mktemp("fleet")
    db = root / "osv.sqlite"
    from hullscan.vulndb import import_paths

    import_paths([_advisory(root / "advisories", CRITICAL_ADVISORY)], db)
    pg = create_database(PG_URL)
    queue = f"hullscan-fleet-{uuid.uuid4().hex[:10]}"
    reg = start_registry(root / "registry")
    ca = make_ca(root / "tls")
    procs: list[Proc] = []
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("COSIGN_PASSWORD", "fleet test")
        mp.chdir(root)
        assert main(["keygen"]) == 0
        digests = {}
        for name in ("app", "unsigned", "critical", "yaml", "new"):
            img = _image(name)
            layout = write_oci([(img, {"annotations": {REF_NAME: "1"}})], root / "oci" / name)
            digests[name] = img.manifest_digest
            if name == "new":
                continue  # pushed after the fleet scan: never scanned
            push(layout, "1", f"{reg.host}/adm/{name}:1")
        # the same image under two more names: one digest, one job
        push(root / "oci" / "app", "1", f"{reg.host}/adm/app:stable")
        push(root / "oci" / "app", "1", f"{reg.host}/other/app-copy:1")
        for name in ("app", "critical", "yaml"):
            assert main(["sign", f"registry:{reg.host}/adm/{name}:1", "--key", "cosign.key"]) == 0
        common = [
            "--queue",
            REDIS_URL,
            "--queue-name",
            queue,
            "--store",
            pg.url,
            "--cache-dir",
            str(root / "cache"),
            "--db",
            str(db),
            "--config",
            str(_config(root, reg.host)),
        ]
        server = start_server(
            ["--tls-cert", str(ca.cert), "--tls-key", str(ca.key), *common],
            root / "server.log",
            scheme="https",
            verify=ssl.create_default_context(cafile=str(ca.ca)),
        )
        procs.append(server)
        for n in range(2):
            procs.append(spawn(["worker", *common], root / f"worker{n}.log"))
        for w in procs[1:]:
            _wait_ready(w)
        code = main(
            [
                "fleet",
                "scan",
                f"registry:{reg.host}",
                *common,
                "--format",
                "json",
                "--state",
                str(root / "state.json"),
            ]
        )
        assert code == 0, [p.text()[-2000:] for p in procs]
        push(root / "oci" / "new", "1", f"{reg.host}/adm/new:1")
        assert main(["sign", f"registry:{reg.host}/adm/new:1", "--key", "cosign.key"]) == 0
        yield Fleet(
            reg.host,
            root,
            pg.url,
            db,
            root / "cache",
            ca,
            server,
            digests,
            {
                "state": json.loads((root / "state.json").read_text()),
                "workers": [p.text() for p in procs[1:]],
            },
        )
    finally:
        mp.undo()
        for p in procs:
            p.stop()
        stop_registry(reg)
        redis_cleanup(REDIS_URL, f"{queue}:")
        drop_database(PG_URL, pg)


def _local_jobs(
    store: Store, db: Path, cache: Path, workers: int = 2, jobs: type[StoreJobs] = StoreJobs
) -> tuple[StoreJobs, EmbeddedQueue]:
    """The embedded queue (worker threads here) on ``store``, as `fleet scan` uses it."""
    queue = EmbeddedQueue(WorkerContext(store, cache, db), workers)
    version = db_version(db)
    return jobs(store, queue, SCANNERS, lambda: version, poll=0.1), queue


# -- fleet scan -----------------------------------------------------------------------------


def test_fleet_scan_lists_resolves_and_deduplicates(fleet: Fleet) -> None:
    state = fleet.scan_output["state"]
    assert state["complete"] is True
    assert state["repositories"] == [
        "adm/app",
        "adm/critical",
        "adm/unsigned",
        "adm/yaml",
        "other/app-copy",
    ]
    # signature tags (sha256-<hex>.sig) are not images
    assert state["tags"]["adm/app"] == {"1": fleet.digests["app"], "stable": fleet.digests["app"]}
    # one job per digest: the app's three names are one scan
    assert set(state["digests"]) == {
        fleet.digests[n] for n in ("app", "unsigned", "critical", "yaml")
    }
    assert {e["status"] for e in state["digests"].values()} == {"done"}
    # the server's workers ran them: each of the two took at least one
    assert all("scanning registry:" in log for log in fleet.scan_output["workers"])
    store = Store(fleet.store_url, migrate=False)
    try:
        critical = store.latest_report(fleet.digests["critical"])
        assert critical is not None
        assert critical.report["image"]["digest"] == fleet.digests["critical"]
        ids = {f["id"] for f in critical.report["findings"]}
        assert "CVE-2023-36095" in ids
        assert store.count_inventories() == 4
    finally:
        store.close()


def test_catalog_and_tags_follow_pagination(fleet: Fleet) -> None:
    client = RegistryClient(Reference(fleet.host, "adm/app", "1", None))
    try:
        paged = list(client.catalog(page_size=2))
        assert paged == sorted(paged) and len(paged) == 6  # adm/new came later
        assert set(paged) == set(client.catalog(page_size=100))
        tags = list(client.tags(page_size=1))
        assert "1" in tags and "stable" in tags
        assert any(t.endswith(".sig") for t in tags)  # there, and skipped by the fleet
    finally:
        client.close()


class Recording(FleetProgress):
    """The progress events of a fleet scan, as they came."""

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[str] = []
        self.repos: list[tuple[str, int, int]] = []
        self.jobs = -1
        self.done: list[tuple[int, int]] = []

    def note(self, text: str) -> None:
        self.notes.append(text)

    def listed(self, repo: str, tags: int, done: int, total: int) -> None:
        self.repos.append((repo, done, total))

    def submitted(self, jobs: int) -> None:
        self.jobs = jobs

    def finished(self, image: str, error: str | None, done: int, total: int) -> None:
        self.done.append((done, total))


def test_progress_on_a_terminal_is_bars_with_failures_kept_above_them() -> None:
    out = io.StringIO()
    with fleet_bars(Console(file=out, force_terminal=True, width=120)) as progress:
        progress.note("2 repositories in registry:r.test")
        progress.listed("team/a", 3, 1, 2)
        progress.listed("team/b", 1, 2, 2)
        progress.submitted(2)
        progress.finished("registry:r.test/team/a:1@sha256:aa", None, 1, 2)
        progress.finished("registry:r.test/team/b:1@sha256:bb", "[bold]manifest[/] unknown", 2, 2)
    text = out.getvalue()
    assert "2 repositories in registry:r.test" in text
    # printed as it is: brackets in an error are no markup
    assert "failed registry:r.test/team/b:1@sha256:bb: [bold]manifest[/] unknown" in text
    assert "listed tags" in text and "scanning images" in text and "2/2" in text
    # a line per step where stderr is no terminal (logs, CI): every job, done or failed
    lines: list[str] = []
    plain = FleetProgress(lines.append)
    plain.listed("team/a", 3, 1, 2)
    plain.finished("registry:r.test/team/b:1@sha256:bb", "manifest unknown", 2, 2)
    assert lines == [
        "team/a: 3 tags",
        "[2/2] registry:r.test/team/b:1@sha256:bb: failed: manifest unknown",
    ]


def test_interrupted_scan_resumes(fleet: Fleet, tmp_path: Path) -> None:
    """A run stopped after its first finished job resumes: the repositories are not listed
    again, and only the digests without a stored report are scanned."""
    store = Store(f"sqlite:///{tmp_path / 'results.sqlite'}")
    state = tmp_path / "state.json"
    target = parse_target(f"registry:{fleet.host}/adm")
    registry = RegistrySettings()

    class Interrupted(Exception):
        pass

    class StopsAfterOne(StoreJobs):
        def wait(self, jobs: Iterable[str]) -> Iterator[JobResult]:
            for result in super().wait(jobs):
                yield result
                raise Interrupted

    jobs, queue = _local_jobs(store, fleet.db, fleet.cache, workers=1, jobs=StopsAfterOne)
    with pytest.raises(Interrupted):
        fleet_scan(target, jobs, state, registry=registry)
    queue.close()
    first = json.loads(state.read_text())
    assert not first["complete"]
    done = [d for d, e in first["digests"].items() if e["status"] == "done"]
    assert len(done) == 1
    jobs2, queue2 = _local_jobs(store, fleet.db, fleet.cache)
    events = Recording()
    try:
        result = fleet_scan(target, jobs2, state, registry=registry, progress=events)
    finally:
        queue2.close()
    # the resumed run says so, lists nothing again, and counts each job it waits for
    assert events.notes[0].startswith("resuming the scan of") and not events.repos
    assert events.jobs == result.submitted
    assert [d for d, _t in events.done] == list(range(1, result.submitted + 1))
    # the finished job, and any that finished while the run stopped, are not run again
    assert result.resumed >= 1 and result.resumed + result.submitted == 5
    assert result.done == result.submitted
    assert json.loads(state.read_text())["complete"] is True
    assert all(store.verdict(d) is not None for d in first["digests"])
    scans = store.list_scans()
    assert len({s.job.key for s in scans}) == 5  # one job per digest
    assert all(s.job.status == Status.DONE and s.job.attempts == 1 for s in scans)
    store.close()


def test_bad_targets_and_store_urls(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("registry:host/repo:tag", "registry:", "registry:host/Upper"):
        with pytest.raises(HullscanError):
            parse_target(bad)
    assert main(["fleet", "report", "--store", "mysql://x"]) == 2
    assert "expected sqlite:///PATH or postgresql://" in capsys.readouterr().err


# -- admission over HTTPS, on the server -------------------------------------------------------


def test_signed_scanned_clean_image_is_admitted(fleet: Fleet) -> None:
    image = f"{fleet.host}/adm/app@{fleet.digests['app']}"
    r = fleet.decide("Deployment", [image])
    assert r["allowed"] is True, r
    for kind in ("StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"):
        assert fleet.decide(kind, [image])["allowed"] is True


def test_unsigned_image_is_refused(fleet: Fleet) -> None:
    r = fleet.decide("Pod", [f"{fleet.host}/adm/unsigned@{fleet.digests['unsigned']}"])
    assert r["allowed"] is False
    assert "not signed" in r["status"]["message"] and "'team'" in r["status"]["message"]


def test_image_outside_the_trust_policy_is_refused(fleet: Fleet) -> None:
    r = fleet.decide("DaemonSet", [f"{fleet.host}/other/app-copy@{fleet.digests['app']}"])
    assert r["allowed"] is False and "not from a trusted source" in r["status"]["message"]


def test_critical_report_is_refused(fleet: Fleet) -> None:
    r = fleet.decide("Job", [f"{fleet.host}/adm/critical@{fleet.digests['critical']}"])
    assert r["allowed"] is False
    assert "at or above HIGH (CVE-2023-36095)" in r["status"]["message"]


def test_never_scanned_image_is_refused(fleet: Fleet) -> None:
    r = fleet.decide("CronJob", [f"{fleet.host}/adm/new@{fleet.digests['new']}"])
    assert r["allowed"] is False and "never scanned" in r["status"]["message"]


def test_tag_only_is_refused_and_the_mutating_endpoint_pins_it(fleet: Fleet) -> None:
    tagged = f"{fleet.host}/adm/app:stable"
    r = fleet.decide("StatefulSet", [tagged])
    assert r["allowed"] is False and "tag only" in r["status"]["message"]
    obj = workload("StatefulSet", pod_spec([tagged]))
    resp = fleet.post(review(obj), "/v1/admission/mutate")
    assert resp.status_code == 200
    patch = json.loads(base64.b64decode(resp.json()["response"]["patch"]))
    assert patch == [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/image",
            "value": f"{tagged}@{fleet.digests['app']}",
        }
    ]
    for p in patch:
        jsonpointer.set_pointer(obj, p["path"], p["value"])
    again = fleet.post(review(obj))
    assert again.json()["response"]["allowed"] is True


def test_malformed_reviews_over_https_get_400(fleet: Fleet) -> None:
    for body in (b"{", b"[]", json.dumps({"kind": "AdmissionReview"}).encode()):
        resp = fleet.post(body)
        assert resp.status_code == 400 and "allowed" not in resp.text
    resp = httpx.post(
        fleet.server.url + "/v1/admission",
        content=b"{}",
        timeout=10,
        headers={"Content-Type": "text/plain"},
        verify=ssl.create_default_context(cafile=str(fleet.ca.ca)),
    )
    assert resp.status_code == 415 and "allowed" not in resp.text


def test_tls_is_mandatory_and_keys_guard_the_rest(fleet: Fleet) -> None:
    plain = fleet.server.url.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        httpx.post(plain + "/v1/admission", content=b"{}", timeout=5)
    with pytest.raises(httpx.ConnectError):  # a certificate from an unknown CA
        httpx.post(fleet.server.url + "/v1/admission", content=b"{}", timeout=5)
    # the API server presents no hullscan key; the rest of the server still needs one
    verify = ssl.create_default_context(cafile=str(fleet.ca.ca))
    assert (
        httpx.get(
            f"{fleet.server.url}/v1/images/{fleet.digests['app']}", verify=verify, timeout=5
        ).status_code
        == 401
    )
    report = httpx.get(
        f"{fleet.server.url}/v1/images/{fleet.digests['app']}",
        verify=verify,
        timeout=5,
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert report.status_code == 200
    assert report.json()["image"]["digest"] == fleet.digests["app"]


def _policy(fleet: Fleet, **admission: Any) -> AdmissionPolicy:
    return Settings.load(_config(fleet.root, fleet.host, **admission)).admission


def test_unscanned_scan_enqueues_then_admits(fleet: Fleet, tmp_path: Path) -> None:
    """`unscanned: scan`: refused while the scan runs, admitted once it is stored."""
    store = Store(f"sqlite:///{tmp_path / 'results.sqlite'}")
    jobs, queue = _local_jobs(store, fleet.db, fleet.cache)
    webhook = AdmissionWebhook(Evaluator(_policy(fleet, unscanned="scan"), store, queue=jobs))
    image = f"{fleet.host}/adm/new:1@{fleet.digests['new']}"
    sent = review(workload("Pod", pod_spec([image])))
    status, doc = webhook.validate(json.dumps(sent).encode())
    assert status == 200 and doc["response"]["allowed"] is False
    (scan,) = store.list_scans()
    assert f"scan {scan.id} queued" in doc["response"]["status"]["message"]
    (result,) = list(jobs.wait([scan.id]))
    assert result.error is None
    status, doc = webhook.validate(json.dumps(sent).encode())
    assert doc["response"]["allowed"] is True
    queue.close()
    webhook.close()
    store.close()


def test_watcher_rematches_when_the_database_changes(fleet: Fleet, tmp_path: Path) -> None:
    """The server option: a new database (``db import``/``db update``) is noticed and every
    stored inventory rematched once."""
    from hullscan.fleet.rematch import RematchWatcher
    from hullscan.vulndb import import_paths

    db = tmp_path / "osv.sqlite"
    import_paths([_advisory(tmp_path / "one", CRITICAL_ADVISORY)], db)
    store = Store(f"sqlite:///{tmp_path / 'results.sqlite'}")
    jobs, queue = _local_jobs(store, db, fleet.cache)
    submitted = [
        jobs.submit(
            f"registry:{fleet.host}/adm/{name}:1@{fleet.digests[name]}", fleet.digests[name]
        )
        for name in ("yaml", "app")
    ]
    assert [r.error for r in jobs.wait(submitted)] == [None, None]
    queue.close()
    seen: list[int] = []
    watcher = RematchWatcher(store, db, interval=0.1, report=lambda r: seen.append(len(r.changed)))
    try:
        watcher.start()
        deadline = time.monotonic() + 120  # generous: the loops end as soon as it is seen
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen == [0]  # the first check: the stored matches are current
        import_paths([_advisory(tmp_path / "two", NEW_ADVISORY)], db)
        deadline = time.monotonic() + 120
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a few more checks: the same database is not rematched again
    finally:
        watcher.stop()
    assert seen == [0, 1]
    verdict = store.verdict(fleet.digests["yaml"])
    assert verdict is not None and "CVE-2020-14343" in verdict.worst_ids
    # the rematch is a finished job of its own: the server's API serves its report
    job = store.latest_job(fleet.digests["yaml"])
    assert job is not None and job.origin == "rematch"
    store.close()


def test_since_through_the_server_api(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`fleet scan --server`: a machine with the server's address and key only. The
    server's reports say which database they used, and when they were made: --since db
    and --since DATE skip on those."""
    state = ["--state", str(fleet.root / "since.json")]
    assert (
        main(["fleet", "scan", f"registry:{fleet.host}/adm", "--server", fleet.server.url, *state])
        == 2
    )
    assert "CERTIFICATE_VERIFY_FAILED" in capsys.readouterr().err  # the test CA: not known
    assert (
        main(
            [
                "fleet",
                "scan",
                f"registry:{fleet.host}/adm",
                "--server",
                fleet.server.url,
                "--server-ca",
                str(fleet.ca.ca),
                *state,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "401" in err and "give the server's API key" in err
    assert "repositories" not in err  # refused before the registry was listed
    monkeypatch.setenv("HULLSCAN_API_KEY", API_KEY)
    code = main(
        [
            "fleet",
            "scan",
            f"registry:{fleet.host}/adm",
            "--server",
            fleet.server.url,
            "--server-ca",
            str(fleet.ca.ca),
            "--db",
            str(fleet.db),
            "--since",
            "db",
            "--format",
            "json",
            *state,
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    # adm/new was pushed after the first scan: the only digest scanned now (it runs
    # after the admission tests, which need adm/new never scanned, and before the import)
    assert (out["repositories"], out["digests"], out["skipped"], out["submitted"]) == (5, 5, 4, 1)
    assert out["done"] == 1
    store = Store(fleet.store_url, migrate=False)
    try:
        verdict = store.verdict(fleet.digests["new"])
        assert verdict is not None  # scanned by the server's workers, into its store
    finally:
        store.close()
    # the server's report says when it was made (Last-Modified): --since DATE skips on it
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert (
        main(
            [
                "fleet",
                "scan",
                f"registry:{fleet.host}/adm",
                "--server",
                fleet.server.url,
                "--server-ca",
                str(fleet.ca.ca),
                "--since",
                today,
                "--format",
                "json",
                "--state",
                str(fleet.root / "since-date.json"),
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (out["digests"], out["skipped"], out["submitted"]) == (5, 5, 0)


# -- report and rematch -------------------------------------------------------------------------


def test_fleet_report(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "report", "--store", fleet.store_url, "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["by_worst_severity"]["CRITICAL"] == 1
    top = summary["top_vulnerabilities"][0]
    assert (top["id"], top["severity"], top["images"]) == ("CVE-2023-36095", "CRITICAL", 1)
    assert summary["worst_images"][0]["image"].startswith(f"registry:{fleet.host}/adm/critical")
    assert main(["fleet", "report", "--store", fleet.store_url]) == 0
    table = capsys.readouterr().out
    assert "CVE-2023-36095" in table and "by worst severity: CRITICAL 1" in table


def test_rematch_after_one_new_advisory_reports_exactly_that_image(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "fleet",
                "rematch",
                "--store",
                fleet.store_url,
                "--db",
                str(fleet.db),
                "--format",
                "json",
            ]
        )
        == 0
    )
    before = json.loads(capsys.readouterr().out)
    # every inventory was matched with this database by its scan: nothing to do
    assert before["changed"] == [] and before["inventories"] == 0
    assert before["up_to_date"] >= 4
    assert (
        main(
            [
                "fleet",
                "rematch",
                "--store",
                fleet.store_url,
                "--db",
                str(fleet.db),
                "--all",
                "--format",
                "json",
            ]
        )
        == 0
    )
    forced = json.loads(capsys.readouterr().out)
    assert forced["changed"] == [] and forced["inventories"] == before["up_to_date"]
    new = _advisory(fleet.root / "new-advisory", NEW_ADVISORY)
    assert main(["db", "import", str(new), "--db", str(fleet.db)]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "fleet",
                "rematch",
                "--store",
                fleet.store_url,
                "--db",
                str(fleet.db),
                "--format",
                "json",
            ]
        )
        == 0
    )
    after = json.loads(capsys.readouterr().out)
    assert [(c["digest"], c["added"], c["removed"]) for c in after["changed"]] == [
        (fleet.digests["yaml"], ["CVE-2020-14343"], [])
    ]
    # the stored report follows: the image's latest report now has the finding
    store = Store(fleet.store_url, migrate=False)
    try:
        latest = store.latest_report(fleet.digests["yaml"])
        assert latest is not None
        assert "CVE-2020-14343" in {f["id"] for f in latest.report["findings"]}
    finally:
        store.close()
    assert (
        main(
            [
                "fleet",
                "rematch",
                "--store",
                fleet.store_url,
                "--db",
                str(fleet.db),
                "--format",
                "json",
            ]
        )
        == 0
    )
    again = json.loads(capsys.readouterr().out)
    assert again["changed"] == [] and again["inventories"] == 0


def test_report_summary_counts_kev_and_end_of_life(tmp_path: Path) -> None:
    """Worst severities, the most widespread vulnerabilities, KEV exposure and releases
    past their end of life, over the latest report of each digest."""
    import datetime as dt

    from hullscan.fleet.report import render_table, summarize

    def vuln(cve: str, severity: str, kev: bool = False) -> dict[str, Any]:
        return {
            "kind": "vulnerability",
            "id": cve,
            "severity": severity,
            "title": cve,
            "package": {"name": "openssl", "purl": "pkg:deb/debian/openssl@1"},
            "kev": {"date_added": "2024-01-01"} if kev else None,
        }

    def report(version: str, *findings: dict[str, Any]) -> dict[str, Any]:
        return {
            "image": {"os": {"id": "debian", "version_id": version}},
            "packages": [],
            "findings": list(findings),
        }

    store = Store(f"sqlite:///{tmp_path / 'results.sqlite'}")
    d = ["sha256:" + c * 64 for c in "abcd"]

    def put(digest: str, image: str, doc: dict[str, Any], version: str) -> None:
        doc["image"]["ref"] = image
        store.record_scan(JobSpec(image, ("vuln",), digest, version), doc, {})

    put(d[0], "old:11", report("11", vuln("CVE-1", "HIGH", kev=True), vuln("CVE-2", "LOW")), "v1")
    put(d[1], "new:12", report("12", vuln("CVE-2", "LOW")), "v1")
    put(d[2], "clean:12", report("12"), "v1")
    put(d[3], "was-bad:12", report("12", vuln("CVE-3", "CRITICAL")), "v1")
    put(d[3], "was-bad:12", report("12"), "v2")  # rescanned: clean now
    summary = summarize(store, today=dt.date(2026, 12, 3))
    store.close()
    assert summary["images"] == 4
    assert {k: v for k, v in summary["by_worst_severity"].items() if v} == {
        "HIGH": 1,
        "LOW": 1,
        "NONE": 2,
    }
    assert [(v["id"], v["images"]) for v in summary["top_vulnerabilities"]] == [
        ("CVE-2", 2),
        ("CVE-1", 1),
    ]
    assert summary["kev"] == [{"id": "CVE-1", "images": ["old:11"]}]
    assert [(e["image"], e["eol"]) for e in summary["end_of_life"]] == [("old:11", "2026-08-31")]
    table = render_table(summary)
    assert "known exploited (CISA KEV): 1" in table and "old:11  debian 11" in table


def _lister(pages: dict[str, httpx.Response]) -> RegistryClient:
    """A registry answering catalog requests from ``pages`` (by query string)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/_catalog":
            return pages[request.url.query.decode()]
        return httpx.Response(404)

    return RegistryClient(
        Reference("registry.example.com", "x", "1", None), transport=httpx.MockTransport(handler)
    )


def _page(names: Any, following: str | None = None, status: int = 200) -> httpx.Response:
    headers = {"Link": f'<{following}>; rel="next"'} if following else {}
    return httpx.Response(status, json={"repositories": names}, headers=headers)


def test_catalog_pages_from_a_hostile_registry() -> None:
    two = _lister(
        {"n=100": _page(["a"], "/v2/_catalog?n=100&last=a"), "n=100&last=a": _page(["b"])}
    )
    assert list(two.catalog()) == ["a", "b"]
    endless = _lister({"n=100": _page(["a"], "/v2/_catalog?n=100")})
    with pytest.raises(HullscanError, match="pages do not end"):
        list(endless.catalog())
    elsewhere = _lister({"n=100": _page(["a"], "https://evil.example/v2/_catalog")})
    with pytest.raises(HullscanError, match="next page is on another host"):
        list(elsewhere.catalog())
    for bad in ("a", [1, 2], {"a": 1}):
        with pytest.raises(HullscanError, match="not a list of names"):
            list(_lister({"n=100": _page(bad)}).catalog())
    with pytest.raises(HullscanError, match="not offered by the registry"):
        list(_lister({"n=100": _page([], status=404)}).catalog())


def test_one_rematch_at_a_time_across_servers(fleet: Fleet, tmp_path: Path) -> None:
    """Every server may run --rematch-every: the store-wide lock lets one rematch, and
    the others skip the round (PostgreSQL advisory lock; flock beside SQLite)."""
    from hullscan.fleet.rematch import RematchWatcher
    from hullscan.jobs.store import REMATCH_LOCK

    for url in (fleet.store_url, f"sqlite:///{tmp_path / 'results.sqlite'}"):
        one, two = Store(url), Store(url, migrate=False)
        try:
            with one.exclusive(REMATCH_LOCK) as first:
                with two.exclusive(REMATCH_LOCK) as second:
                    assert (first, second) == (True, False)
                assert RematchWatcher(two, fleet.db).check() is None  # busy: skipped
            with two.exclusive(REMATCH_LOCK) as again:
                assert again  # released
            assert RematchWatcher(two, fleet.db).check() is not None
        finally:
            one.close()
            two.close()


def test_an_embedded_queue_gives_up_only_its_own_jobs(tmp_path: Path) -> None:
    """A fleet scan (or server) starting an embedded queue on a store a Celery deployment
    shares fails what an earlier embedded queue left unfinished, never Celery's jobs
    (the broker still holds their messages)."""
    store = Store(f"sqlite:///{tmp_path / 'results.sqlite'}")
    digest = "sha256:" + "e" * 64
    mine = store.submit(
        JobSpec("registry:r.example/a@" + digest, SCANNERS, digest, "v1"), queue="embedded"
    )
    theirs = store.submit(
        JobSpec("registry:r.example/b@" + digest, ("secret",), digest, "v1"), queue="celery"
    )
    store.claim(theirs.job_key)  # a Celery worker is scanning it
    queue = EmbeddedQueue(WorkerContext(store, tmp_path / "cache", tmp_path / "db"), 1)
    queue.close()
    left, running = store.get_scan(mine.scan_id), store.get_scan(theirs.scan_id)
    assert left is not None and left.job.status == Status.FAILED
    assert "embedded queue stopped" in (left.job.error or "")
    assert running is not None and running.job.status == Status.RUNNING
    store.close()
