"""What a worker does with one job message, whichever queue carried it: claim the job,
pull and scan with the message's credentials, store the result in one transaction."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hullscan.errors import HullscanError
from hullscan.jobs.scanning import retryable, scan_image
from hullscan.jobs.store import Store, StoreError
from hullscan.settings import Settings

log = logging.getLogger("hullscan.jobs")


@dataclass(frozen=True)
class JobMessage:
    """A job as queued: what to scan, and the pull credentials of this one request
    (never written to the store, never logged: ``repr`` hides them)."""

    key: str
    ref: str
    scanners: tuple[str, ...]
    sbom: bool = False
    #: the manifest digest the caller named; a pull that finds another one fails
    digest: str | None = None
    #: registry hosts this request reaches over plain HTTP (Harbor's ``http://`` URL)
    insecure: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def to_wire(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "ref": self.ref,
            "scanners": list(self.scanners),
            "sbom": self.sbom,
            "digest": self.digest,
            "insecure": list(self.insecure),
            "username": self.username,
            "password": self.password,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> JobMessage:
        return cls(
            str(d["key"]),
            str(d["ref"]),
            tuple(d["scanners"]),
            bool(d["sbom"]),
            d.get("digest"),
            tuple(d.get("insecure") or ()),
            d.get("username"),
            d.get("password"),
        )


@dataclass(frozen=True)
class WorkerContext:
    store: Store
    cache_dir: Path
    db_path: Path
    #: hullscan.yaml; each message adds its credentials to ``settings.registries``
    settings: Settings = field(default_factory=Settings)


class RetryLater(HullscanError):
    """The registry, the network or the store failed: the job is queued again."""


def run_job(msg: JobMessage, ctx: WorkerContext) -> None:
    """Raises ``RetryLater`` for trouble worth retrying; any other failure is recorded
    on the job (``failed``, with the reason)."""
    try:
        job = ctx.store.claim(msg.key)
    except StoreError as e:
        log.warning("job %s: %s (will retry)", msg.key[:12], e)
        raise RetryLater(str(e)) from e
    if job is None:
        return  # done already (a redelivered message), or unknown
    log.info("scanning %s (job %s, attempt %d)", msg.ref, msg.key[:12], job.attempts)
    base = ctx.settings.registries
    registry = replace(base, insecure=base.insecure | set(msg.insecure))
    if msg.username is not None:
        registry = replace(registry, username=msg.username, password=msg.password or "")
    try:
        result = scan_image(
            msg.ref,
            msg.scanners,
            cache_dir=ctx.cache_dir,
            db_path=ctx.db_path,
            registry=registry,
            sbom=msg.sbom,
            settings=ctx.settings,
        )
        digest = result.digest
        if msg.digest is not None and result.digest != msg.digest:
            if _named_digest(msg.ref, ctx) != msg.digest:
                raise HullscanError(
                    f"{msg.ref}: the registry served {result.digest}, not "
                    f"the requested {msg.digest}"
                )
            # the reference names an index (the pull checked its digest): the job is
            # the index's, the platform manifest scanned is kept beside it
            digest = msg.digest
        ctx.store.finish(
            msg.key,
            digest=digest,
            manifest_digest=result.digest,
            db_version=result.db_version,
            report=result.report,
            inventory=result.inventory,
            sboms=result.sboms or None,
        )
    except Exception as e:
        if retryable(e):
            log.warning("job %s: %s (will retry)", msg.key[:12], e)
            # the store itself may be down: the message stays queued anyway
            with contextlib.suppress(HullscanError):
                ctx.store.requeue(msg.key, str(e))
            raise RetryLater(str(e)) from e
        reason = str(e) if isinstance(e, HullscanError) else f"internal error: {e!r}"
        log.warning("job %s failed: %s", msg.key[:12], reason)
        ctx.store.fail(msg.key, reason)
        if not isinstance(e, HullscanError):
            log.exception("job %s", msg.key[:12])


def _named_digest(ref: str, ctx: WorkerContext) -> str | None:
    from hullscan.references import parse_reference

    try:
        return parse_reference(ref, ctx.settings.registries.default_registry).digest
    except HullscanError:
        return None
