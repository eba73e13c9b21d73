"""``hullscan fleet rematch``: match every stored inventory against the current database
again — no pull, no layer read — and record which images gained or lost findings.

An image's findings are compared as (vulnerability id, package purl) pairs with those of
its previous match. A changed image gets a new stored report (origin ``rematch``): the
scan's report with its vulnerability findings replaced, so admission decisions and
``fleet report`` see the new advisories at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hullscan.errors import HullscanError
from hullscan.jobs.store import REMATCH_LOCK, Change, Store, StoredInventory, StoredReport
from hullscan.jobs.verdict import finding_key, key_id, os_of
from hullscan.model import ImageMeta, Inventory, Package, Severity
from hullscan.vuln.matcher import (
    AdvisorySource,
    Query,
    QueryMatch,
    match_inventory,
    match_query,
    query_for,
)


@dataclass
class RematchResult:
    #: inventories matched again
    inventories: int = 0
    db_version: str = ""
    seconds: float = 0.0
    changed: list[Change] = field(default_factory=list)
    #: inventories skipped: already matched with this database
    up_to_date: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "inventories": self.inventories,
            "up_to_date": self.up_to_date,
            "db_version": self.db_version,
            "seconds": round(self.seconds, 3),
            "changed": [
                {"digest": c.digest, "image": c.image, "added": c.added, "removed": c.removed}
                for c in self.changed
            ],
        }


def inventory_of(stored: StoredInventory) -> Inventory:
    meta = ImageMeta(
        ref=stored.image, transport="registry", digest=stored.digest, config_digest=None
    )
    return Inventory(meta, os_of(stored.os), tuple(Package.from_dict(p) for p in stored.packages))


def _finding_keys(inv: Inventory, db: AdvisorySource, memo: dict[Query, QueryMatch]) -> set[str]:
    """What ``match_inventory`` would find, as finding keys, without building findings
    (most images do not change)."""
    keys: set[str] = set()
    for p in inv.packages:
        q = query_for(p, inv.os)
        if q is None:
            continue
        found = memo.get(q)
        if found is None:
            found = memo[q] = match_query(q, db)
        keys.update(finding_key(i, p.purl) for i in found.finding_ids)
    return keys


def _ids(keys: set[str]) -> list[str]:
    return sorted({key_id(k) for k in keys})


def rematch(
    store: Store,
    db: AdvisorySource,
    db_version: str,
    *,
    everything: bool = False,
    progress: Callable[[int], None] = lambda _: None,
) -> RematchResult:
    """Match the stored inventories against ``db``. Those last matched with this very
    database are skipped (the same data gives the same findings), unless
    ``everything``: after an upgrade of hullscan, whose matching may have changed."""
    started = time.perf_counter()
    out = RematchResult(db_version=db_version)
    memo: dict[Query, QueryMatch] = {}  # images share their base layers' packages
    matches: list[tuple[str, list[str]]] = []
    rematched: list[StoredReport] = []
    total = store.count_inventories()
    for stored in store.inventories(not_matched_with=None if everything else db_version):
        out.inventories += 1
        inv = inventory_of(stored)
        keys = _finding_keys(inv, db, memo)
        before = set(stored.finding_keys)
        if keys != before:
            change = Change(stored.digest, stored.image, _ids(keys - before), _ids(before - keys))
            out.changed.append(change)
            matched = match_inventory(inv, db, memo)  # the findings, for the new report
            new = _rematched(store, stored, [f.to_dict() for f in matched.findings], db_version)
            if new is not None:
                rematched.append(new)
        if keys != before or stored.db_version != db_version:
            matches.append((stored.digest, sorted(keys)))
        progress(out.inventories)
    store.record_rematch(rematched, matches, out.changed, db_version)
    out.up_to_date = max(0, total - out.inventories)
    out.seconds = time.perf_counter() - started
    return out


def _rematched(
    store: Store, stored: StoredInventory, findings: list[dict[str, Any]], db_version: str
) -> StoredReport | None:
    """The latest report of the image with its vulnerability findings replaced."""
    latest = store.latest_report(stored.digest)
    if latest is None:
        return None
    report = dict(latest.report)
    report["findings"] = [
        f
        for f in report.get("findings") or []
        if isinstance(f, dict) and f.get("kind") != "vulnerability"
    ]
    report["findings"] += findings
    summary = dict(report.get("summary") or {})
    summary["by_kind"] = dict(
        sorted(Counter(str(f.get("kind")) for f in report["findings"]).items())
    )
    summary["by_severity"] = {
        s.name: n
        for s in sorted(Severity, reverse=True)
        if (n := sum(1 for f in report["findings"] if f.get("severity") == s.name))
    }
    report["summary"] = summary
    return StoredReport(
        stored.digest, stored.image, latest.scanned_at, db_version, report, latest.job_key
    )


class RematchWatcher:
    """Rematch the stored inventories when the database changes (``db update`` swaps in
    a new file): ``check()`` now and then, e.g. from ``start()``'s thread. Safe on every
    server of a deployment: one rematches at a time (a store-wide lock), and what it
    matched is not matched again by the others."""

    def __init__(
        self,
        store: Store,
        db_path: Path,
        interval: float = 60.0,
        report: Callable[[RematchResult], None] = lambda _: None,
    ) -> None:
        self.store, self.db_path, self.interval = store, db_path, interval
        self.report = report
        self.version: str | None = None  # the version last rematched with
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> RematchResult | None:
        """Rematch if the database is not the one last rematched with. The first check
        matches every inventory (this hullscan may be newer than the one that matched
        them); later ones only those not matched with the current database."""
        from hullscan.vulndb import open_db

        with open_db(self.db_path) as db:
            version = db.meta().built_at
            if version == self.version:
                return None
            with self.store.exclusive(REMATCH_LOCK) as mine:
                if not mine:
                    return None  # another server is rematching: look again next time
                result = rematch(self.store, db, version, everything=self.version is None)
        self.version = version
        self.report(result)
        return result

    def start(self) -> None:
        def loop() -> None:
            while True:
                with contextlib.suppress(HullscanError):  # no database yet, store down
                    self.check()
                if self._stop.wait(self.interval):
                    return

        self._thread = threading.Thread(target=loop, name="rematch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


__all__ = ["RematchResult", "RematchWatcher", "inventory_of", "rematch"]
