"""Judge each image of an admission review by the policy, from stored results only.

Per image: the reference must name a digest (or, for the mutating endpoint, a tag is
resolved to one); its source must be covered by the trust policy and signed by that
scope's keys (checked against the registry once, then cached); the latest stored
report of the digest must have nothing at or above ``deny_severity`` and no
known-exploited finding; a digest never scanned is allowed, warned about, denied, or
denied with a scan enqueued. Nothing here scans an image.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from hullscan.admission.cache import LookupCache
from hullscan.admission.policy import AdmissionPolicy
from hullscan.admission.review import ContainerImage, Review
from hullscan.errors import HullscanError
from hullscan.jobs.verdict import Verdict
from hullscan.references import Reference, canonical_name, parse_reference
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.streams import Limits
from hullscan.supplychain.trust import TrustRule

if TYPE_CHECKING:
    from hullscan.supplychain.keys import PublicKey

_T = TypeVar("_T")
RESOLVE_TTL = 60.0  # a tag may be re-pointed: resolutions are kept for a minute


class VerdictSource(Protocol):
    def verdict(self, digest: str) -> Verdict | None:
        """The latest stored report of a digest, summarised; None if never scanned."""
        ...


class ScanSubmitter(Protocol):
    def submit(self, image: str, digest: str) -> str:
        """Enqueue a scan of ``image`` (which names ``digest``); returns a job id."""
        ...


class BudgetExceeded(HullscanError):
    """The answer could not be made within the admission budget."""


@dataclass(frozen=True)
class SignatureOutcome:
    ok: bool
    detail: str


@dataclass(frozen=True)
class ImageDecision:
    container: ContainerImage
    #: reasons to refuse (empty: this image may run)
    problems: tuple[str, ...] = ()
    #: things to say without refusing (unscanned: warn, audit-mode signatures)
    notes: tuple[str, ...] = ()
    digest: str | None = None
    #: the image pinned by digest (``name:tag@sha256:…``), when the tag was resolved here
    pinned: str | None = None

    @property
    def who(self) -> str:
        """The container's name (short enough for a warning)."""
        return self.container.container or self.container.list_name

    @property
    def label(self) -> str:
        """The container and its image (for the status message)."""
        return f"{self.who} ({self.container.image})"


class Evaluator:
    def __init__(
        self,
        policy: AdmissionPolicy,
        verdicts: VerdictSource,
        *,
        registry: RegistrySettings | None = None,
        queue: ScanSubmitter | None = None,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        self.policy = policy
        self.verdicts = verdicts
        self.registry = registry or RegistrySettings()
        self.queue = queue
        self.executor = executor or ThreadPoolExecutor(16, thread_name_prefix="admission")
        ttl = policy.signature_cache_seconds
        self.signatures: LookupCache[SignatureOutcome] = LookupCache(
            self.executor, ttl, ttl / 10, failed=lambda o: not o.ok
        )
        self.resolutions: LookupCache[str] = LookupCache(
            self.executor, RESOLVE_TTL, RESOLVE_TTL / 6
        )
        self._keys: dict[tuple[Path, ...], list[tuple[str, PublicKey]]] = {}

    # -- the two endpoints ------------------------------------------------------------

    def judge(self, review: Review, deadline: float) -> list[ImageDecision]:
        """One decision per container image (none for an exempt namespace)."""
        if self.policy.namespace_exempt(review.namespace):
            return []
        for c in review.images:  # start every registry look-up before waiting for any
            self._prefetch(c)
        return [self._judge(c, deadline, review.dry_run) for c in review.images]

    def pin(self, review: Review, deadline: float) -> list[ImageDecision]:
        """Tag-only images resolved to digests (for the mutating endpoint's patch)."""
        if self.policy.namespace_exempt(review.namespace):
            return []
        out = []
        for c in review.images:
            ref = self._reference(c)
            if isinstance(ref, str) or ref.digest or self._exempt(c, ref):
                continue
            try:
                digest = self._wait(self._resolve(ref), deadline)
            except HullscanError as e:
                out.append(ImageDecision(c, notes=(f"not pinned: {e}",)))
                continue
            out.append(ImageDecision(c, digest=digest, pinned=f"{c.image}@{digest}"))
        return out

    # -- one image --------------------------------------------------------------------

    def _reference(self, c: ContainerImage) -> Reference | str:
        try:
            return parse_reference(c.image, self.registry.default_registry)
        except HullscanError as e:
            return f"not a valid image reference ({e})"

    def _exempt(self, c: ContainerImage, ref: Reference) -> bool:
        return self.policy.image_exempt(c.image, canonical_name(ref.name))

    def _judge(self, c: ContainerImage, deadline: float, dry_run: bool) -> ImageDecision:
        ref = self._reference(c)
        if isinstance(ref, str):
            return ImageDecision(c, problems=(ref,))
        if self._exempt(c, ref):
            return ImageDecision(c)
        problems: list[str] = []
        notes: list[str] = []
        digest = ref.digest
        if digest is None:
            if self.policy.require_digest:
                return ImageDecision(
                    c,
                    problems=(
                        "named by tag only; pin it by digest (image:tag@sha256:…, "
                        "`hullscan pin`, or the mutating webhook)",
                    ),
                )
            try:
                digest = self._wait(self._resolve(ref), deadline)
            except BudgetExceeded:
                raise  # fail_open decides
            except HullscanError as e:
                return ImageDecision(c, problems=(f"tag could not be resolved: {e}",))
        problems += self._trust(ref, digest, deadline, notes)
        problems += self._stored(c, digest, notes, dry_run)
        return ImageDecision(c, tuple(problems), tuple(notes), digest)

    def _trust(self, ref: Reference, digest: str, deadline: float, notes: list[str]) -> list[str]:
        trust = self.policy.trust
        if trust is None:
            return []
        name = canonical_name(ref.name)
        matched = trust.rule_for(name)
        if matched is None:
            return [f"{name} is not from a trusted source (no scope of {trust.source} covers it)"]
        rule, _scope = matched
        if not rule.needs_signature:
            return []
        outcome = self._wait(self._signature(ref, digest, rule), deadline)
        if outcome.ok:
            return []
        problem = f"{outcome.detail} (trust policy {rule.name!r})"
        if rule.signature == "audit":
            notes.append(problem)
            return []
        return [problem]

    def _stored(self, c: ContainerImage, digest: str, notes: list[str], dry_run: bool) -> list[str]:
        policy = self.policy
        verdict = self.verdicts.verdict(digest)
        if verdict is None:
            what = f"{digest[:19]}… was never scanned"
            if policy.unscanned == "allow":
                return []
            if policy.unscanned == "warn":
                notes.append(what)
                return []
            if policy.unscanned == "scan" and self.queue is not None and not dry_run:
                job = self.queue.submit(_with_digest(c.image, digest), digest)
                return [f"{what}; scan {job} queued: retry when it is done"]
            return [f"{what}; scan it first (`hullscan fleet scan`, or POST /v1/scans)"]
        problems = []
        when = verdict.scanned_at[:10]
        if policy.deny_severity is not None:
            n = verdict.at_or_above(policy.deny_severity)
            if n:
                ids = ", ".join(verdict.worst_ids[:3])
                problems.append(
                    f"report of {when} has {n} finding(s) at or above "
                    f"{policy.deny_severity.name} ({ids}); fix and rebuild"
                )
        if policy.deny_kev and verdict.kev:
            problems.append(
                f"report of {when} has known-exploited {', '.join(verdict.kev[:3])} (CISA KEV)"
            )
        return problems

    # -- look-ups (cached, shared, bounded by the caller's deadline) --------------------

    @staticmethod
    def _wait(future: Future[_T], deadline: float) -> _T:
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            raise BudgetExceeded(
                "a registry look-up did not finish within the admission budget"
            ) from None

    def _prefetch(self, c: ContainerImage) -> None:
        """Start the look-ups ``_judge`` will wait for (cached ones are not repeated)."""
        ref = self._reference(c)
        if isinstance(ref, str) or self._exempt(c, ref):
            return
        if ref.digest is None:
            if not self.policy.require_digest:
                self._resolve(ref)
            return
        matched = (
            self.policy.trust.rule_for(canonical_name(ref.name))
            if self.policy.trust is not None
            else None
        )
        if matched is not None and matched[0].needs_signature:
            self._signature(ref, ref.digest, matched[0])

    def _signature(self, ref: Reference, digest: str, rule: TrustRule) -> Future[SignatureOutcome]:
        return self.signatures.get(
            (ref.host, ref.repository, digest, rule.name, rule.keys),
            lambda: self._check_signature(ref, digest, rule),
        )

    def _resolve(self, ref: Reference) -> Future[str]:
        from hullscan.supplychain.signatures import Target, resolve_digest

        return self.resolutions.get(
            (ref.host, ref.repository, ref.tag),
            lambda: resolve_digest(Target(str(ref), reference=ref), self.registry, Limits()),
        )

    def _public_keys(self, keys: Sequence[Path]) -> list[tuple[str, PublicKey]]:
        from hullscan.supplychain.signatures import load_public_keys

        found = self._keys.get(tuple(keys))
        if found is None:
            found = self._keys[tuple(keys)] = load_public_keys(keys)
        return found

    def _check_signature(self, ref: Reference, digest: str, rule: TrustRule) -> SignatureOutcome:
        from hullscan.supplychain.signatures import Target, check_target

        pinned = Reference(ref.host, ref.repository, None, digest)
        try:
            checks = check_target(
                Target(str(pinned), reference=pinned),
                digest,
                self._public_keys(rule.keys),
                settings=self.registry,
            )
        except HullscanError as e:
            return SignatureOutcome(False, f"signatures could not be checked: {e}")
        if any(c.problem is None for c in checks):
            return SignatureOutcome(True, "signed")
        if not checks:
            return SignatureOutcome(
                False, "not signed; sign it (`hullscan sign IMAGE --key …` or cosign)"
            )
        return SignatureOutcome(False, f"no valid signature by a trusted key ({checks[0].problem})")


def _with_digest(image: str, digest: str) -> str:
    return image if "@" in image else f"{image}@{digest}"


__all__ = ["BudgetExceeded", "Evaluator", "ImageDecision", "ScanSubmitter", "VerdictSource"]
