"""``/metrics``: read at scrape time from the queue, the store (shared by every worker,
so the figures are the deployment's, not one process's) and the database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from hullscan.jobs.store import Status
from hullscan.server.services import Services

BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class ServerCollector(Collector):
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("hullscan_queue_depth", "Scan jobs waiting for a worker")
        try:
            depth.add_metric([], self.svc.queue.depth())
        except Exception:
            depth.add_metric([], float("nan"))
        yield depth
        jobs = GaugeMetricFamily(
            "hullscan_scans",
            "Scan jobs by status (done and failed are the outcomes)",
            labels=["status"],
        )
        counts = self.svc.store.count_by_status()
        for status in Status:
            jobs.add_metric([status.value], counts.get(status, 0))
        yield jobs
        cumulative, count, total = self.svc.store.durations(BUCKETS)
        hist = HistogramMetricFamily(
            "hullscan_scan_duration_seconds", "Time a successful scan took, pull included"
        )
        hist.add_metric(
            [],
            [(str(b), n) for b, n in zip(BUCKETS, cumulative, strict=True)] + [("+Inf", count)],
            total,
        )
        yield hist
        age = GaugeMetricFamily(
            "hullscan_vulnerability_database_age_seconds",
            "Seconds since the vulnerability database was built",
        )
        if version := self.svc.db_version():
            try:
                built = datetime.fromisoformat(version.replace("Z", "+00:00"))
                age.add_metric([], time.time() - built.timestamp())
            except ValueError:
                pass  # a version that is no ISO time: the age is left out, not guessed
        yield age


def render(svc: Services) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(svc))
    return generate_latest(registry)
