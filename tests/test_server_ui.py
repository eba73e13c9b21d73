"""The server's web pages (/ui) against a running server on loopback: behind the API
keys, and in headless Chromium the same quiet, self-contained pages as the HTML report."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from hullscan.cli import main
from hullscan.jobs.store import JobSpec, Store
from hullscan.server.app import create_app
from hullscan.server.services import Services
from hullscan.server.settings import ServerSettings, hash_key

from browser import Browser, chromium_browser  # noqa: F401  (the fixture "browser")
from conftest import corpus_image, truth

pytestmark = pytest.mark.corpus
KEY = "ui-test-key-" + "7" * 20


class _NoQueue:
    kind = "embedded"

    def enqueue(self, msg: Any) -> None: ...
    def depth(self) -> int:
        return 0

    def ping(self) -> None: ...
    def close(self) -> None: ...


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _report(image: str, out: Path) -> dict[str, Any]:
    dest = out / f"{image}.json"
    assert main(
        [
            "scan",
            str(corpus_image(image) / "docker-archive.tar"),
            "--scanners",
            "secret,config",
            "-q",
            "--cache-dir",
            str(out / "cache"),
            "--format",
            "json",
            "-o",
            str(dest),
        ]
    ) in (0, 1)
    doc: dict[str, Any] = json.loads(dest.read_text())
    return doc


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    work = tmp_path_factory.mktemp("ui")
    store = Store(f"sqlite:///{work / 'store.sqlite'}")
    digests = {}
    for n, image in enumerate(("secrets-and-misconfig", "multi-layer-big")):
        doc = _report(image, work)
        digest = "sha256:" + f"{n + 1}" * 64
        sub = store.submit(
            JobSpec(f"registry:registry.example/{image}@{digest}", ("secret", "config"), digest)
        )
        store.claim(sub.job_key)
        store.finish(
            sub.job_key,
            digest=digest,
            db_version=None,
            report=doc,
            inventory={"packages": doc["packages"]},
        )
        digests[image] = digest
    failed = store.submit(JobSpec("registry:registry.example/gone:1", ("vuln",)))
    store.fail(failed.job_key, "manifest unknown")
    port = _free_port()
    settings = ServerSettings(
        cache_dir=work,
        db_path=work / "osv.sqlite",
        store_url="",
        port=port,
        api_key_hashes=frozenset({hash_key(KEY)}),
    )
    app = create_app(Services(settings, store, _NoQueue()))  # type: ignore[arg-type]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", digests
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        store.close()


def test_ui_needs_the_api_key(server: tuple[str, dict[str, str]]) -> None:
    base, digests = server
    for path in ("/ui/scans", "/ui/fleet", f"/ui/images/{digests['multi-layer-big']}"):
        refused = httpx.get(base + path)
        assert refused.status_code == 401 and KEY not in refused.text
        # a browser prompts for Basic credentials; the key is the password
        assert refused.headers["www-authenticate"] == 'Basic realm="hullscan"'
        r = httpx.get(base + path, headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "Content-Security-Policy" in r.text
        assert httpx.get(base + path, auth=("anyone", KEY)).status_code == 200
        assert httpx.get(base + path, auth=("anyone", "wrong")).status_code == 401
        # not base64 at all (a non-ASCII byte): no key offered, not a server error
        assert (
            httpx.get(base + path, headers={"Authorization": b"Basic \xe9t\xe9"}).status_code == 401
        )
    assert httpx.get(f"{base}/v1/scans/x").headers["www-authenticate"].startswith("Bearer")
    r = httpx.get(f"{base}/ui/images/sha256:{'9' * 64}", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 404


def test_ui_in_chromium(browser: Browser, server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    browser.driver.execute_cdp_cmd("Network.enable", {})
    browser.driver.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {KEY}"}}
    )
    try:
        visit = browser.open(f"{base}/ui/scans")
        assert visit.console_errors == [] and visit.requests == [f"{base}/ui/scans"]
        rows = browser.rows("scans")
        assert sorted(r["status"] for r in rows) == ["done", "done", "failed"]
        browser.select("scans", "status", "done")
        assert len(browser.rows("scans")) == 2
        link = browser.driver.find_element("css selector", "#scans a[href*='%3A2222']")
        link.click()
        assert browser.driver.current_url == f"{base}/ui/images/sha256%3A{'2' * 64}"
        visit = browser.visit()
        assert visit.console_errors == []
        assert len(browser.rows("layers")) == 11
        page = browser.driver.page_source
        for s in truth("secrets-and-misconfig")["secrets"]:
            assert s.get("match", "") == "" or "BEGIN" in s["match"] or s["match"] not in page
        visit = browser.open(f"{base}/ui/fleet")
        assert visit.console_errors == []
        assert len(browser.rows("images")) == 2
    finally:
        browser.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
