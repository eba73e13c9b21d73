"""``hullscan fleet scan``: list a registry (or a prefix of it), resolve every tag to its
digest, and submit one job per distinct digest, keeping a state file so that an
interrupted run resumes where it stopped.

The state (JSON, rewritten atomically after each repository and each submission) holds
the repositories listed, the digest of every tag, and each digest's job and outcome. A
resumed run lists no repository twice and submits no digest whose report is stored; a
finished run's state is kept for the record and a new run starts afresh.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hullscan.errors import HullscanError
from hullscan.fleet import catalog
from hullscan.fleet.catalog import FleetTarget
from hullscan.fleet.jobs import JobQueue
from hullscan.jobs.store import iso
from hullscan.sources.registry_settings import RegistrySettings

STATE_SCHEMA = "hullscan.fleet-state/v1"


class FleetProgress:
    """What a fleet scan reports as it goes; this one says each step in a line of text
    (``say``): the form for logs and pipes. ``hullscan fleet scan`` shows bars instead on
    a terminal (``cli.fleet``)."""

    def __init__(self, say: Callable[[str], None] = lambda _: None) -> None:
        self.say = say

    def note(self, text: str) -> None:
        """A step's news: resuming, repositories found, jobs submitted."""
        self.say(text)

    def listed(self, repo: str, tags: int, done: int, total: int) -> None:
        """Repository ``repo``'s tags resolved (``done`` of ``total`` repositories)."""
        self.say(f"{repo}: {tags} tags")

    def submitted(self, jobs: int) -> None:
        """``jobs`` jobs are now waited for."""

    def finished(self, image: str, error: str | None, done: int, total: int) -> None:
        """One job ended (``done`` of ``total``), with ``error`` if it failed."""
        self.say(f"[{done}/{total}] {image}: {'done' if error is None else 'failed: ' + error}")


@dataclass
class FleetScanResult:
    repositories: int = 0
    tags: int = 0
    digests: int = 0
    submitted: int = 0
    skipped: int = 0  # --since: already scanned with the current database (or since)
    resumed: int = 0  # done in an earlier, interrupted run
    done: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # digest -> why
    tag_errors: dict[str, str] = field(default_factory=dict)  # repo:tag -> why

    def to_dict(self) -> dict[str, Any]:
        return {
            "repositories": self.repositories,
            "tags": self.tags,
            "digests": self.digests,
            "submitted": self.submitted,
            "skipped": self.skipped,
            "resumed": self.resumed,
            "done": self.done,
            "failed": self.failed,
            "tag_errors": self.tag_errors,
        }


class State:
    def __init__(self, path: Path, target: FleetTarget) -> None:
        self.path = path
        self.doc: dict[str, Any] = {
            "schema": STATE_SCHEMA,
            "target": str(target),
            "started_at": iso(None),
            "complete": False,
            "repositories": None,
            "tags": {},
            "digests": {},
        }
        if path.is_file():
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError) as e:
                raise HullscanError(
                    f"{path}: unreadable fleet state ({e}); delete it to start afresh"
                ) from None
            if not isinstance(old, dict) or old.get("schema") != STATE_SCHEMA:
                raise HullscanError(f"{path}: not a fleet state file")
            if old.get("target") != str(target):
                raise HullscanError(
                    f"{path}: the state of a scan of {old.get('target')}, not {target}"
                )
            if not old.get("complete"):
                self.doc = old
        self.resuming = self.doc.get("repositories") is not None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.doc, indent=1))
        os.replace(tmp, self.path)


def default_state_path(cache_dir: Path, target: FleetTarget) -> Path:
    name = str(target).removeprefix("registry:").replace("/", "_").replace(":", "_")
    return cache_dir / "fleet" / f"{name}.json"


def skip_reason(
    queue: JobQueue, digest: str, since: str | None, current_db: str | None
) -> str | None:
    """Why ``--since`` skips a digest: scanned with the current database (``db``), or
    at or after a date (``YYYY-MM-DD``)."""
    if since is None:
        return None
    seen = queue.scanned(digest)
    if seen is None:
        return None
    version, at = seen
    if since == "db":
        return "scanned with the current database" if version == current_db else None
    return f"scanned {at[:10]}" if at is not None and at[:10] >= since else None


def _stored_since(queue: JobQueue, digest: str, started_at: str) -> bool:
    seen = queue.scanned(digest)
    return seen is not None and seen[1] is not None and seen[1] >= started_at


def fleet_scan(
    target: FleetTarget,
    queue: JobQueue,
    state_path: Path,
    *,
    registry: RegistrySettings,
    since: str | None = None,
    current_db: str | None = None,
    progress: FleetProgress | None = None,
) -> FleetScanResult:
    progress = progress or FleetProgress()
    state = State(state_path, target)
    doc = state.doc
    out = FleetScanResult()
    if state.resuming:
        progress.note(f"resuming the scan of {target} started {doc['started_at']}")
    if doc["repositories"] is None:
        doc["repositories"] = catalog.repositories(target, registry)
        state.save()
    repos: list[str] = doc["repositories"]
    out.repositories = len(repos)
    progress.note(f"{len(repos)} repositories in {target}")
    for listed, repo in enumerate(repos, 1):
        if repo in doc["tags"]:
            continue
        resolved: dict[str, Any] = {}
        try:
            tags = catalog.image_tags(target.host, repo, registry)
        except HullscanError as e:
            out.tag_errors[repo] = str(e)
            tags = []
        for tag in tags:
            try:
                resolved[tag] = catalog.resolve(target.host, repo, tag, registry)
            except HullscanError as e:
                resolved[tag] = {"error": str(e)}
        doc["tags"][repo] = resolved
        state.save()
        progress.listed(repo, len(tags), listed, len(repos))
    digests: dict[str, str] = {}  # digest -> the first reference naming it
    for repo in repos:
        for tag, digest in doc["tags"].get(repo, {}).items():
            out.tags += 1
            if isinstance(digest, dict):
                out.tag_errors[f"{repo}:{tag}"] = str(digest.get("error"))
                continue
            digests.setdefault(digest, f"registry:{target.host}/{repo}:{tag}@{digest}")
    out.digests = len(digests)
    jobs: dict[str, str] = {}
    for digest, image in digests.items():
        entry = doc["digests"].get(digest)
        if entry is not None and (
            entry.get("status") == "done"
            or (
                entry.get("status") == "submitted"
                and _stored_since(queue, digest, doc["started_at"])
            )
        ):
            entry["status"] = "done"  # a job that finished after the run was stopped
            out.resumed += 1
            continue
        why = skip_reason(queue, digest, since, current_db)
        if why is not None:
            out.skipped += 1
            doc["digests"][digest] = {"image": image, "status": "skipped", "why": why}
            continue
        job = queue.submit(image, digest)
        jobs[job] = digest
        doc["digests"][digest] = {"image": image, "status": "submitted", "job": job}
        out.submitted += 1
    state.save()
    progress.note(
        f"{out.digests} distinct digests: {out.submitted} submitted, {out.skipped} "
        f"skipped (--since), {out.resumed} done earlier"
    )
    progress.submitted(len(jobs))
    for n, result in enumerate(queue.wait(list(jobs)), 1):
        entry = doc["digests"][result.digest]
        if result.error is None:
            entry["status"] = "done"
            out.done += 1
        else:
            entry.update(status="failed", error=result.error)
            out.failed[result.digest] = result.error
        state.save()
        progress.finished(result.image, result.error, n, len(jobs))
    doc["complete"] = not out.failed
    doc["finished_at"] = iso(None)
    state.save()
    return out


__all__ = ["FleetProgress", "FleetScanResult", "default_state_path", "fleet_scan", "skip_reason"]
