"""``verify``: an image's signatures against public keys, its digests against a release,
and its source and signers against a trust policy — the library behind ``hullscan
verify``, the supply chain scanner's policy step and the admission webhook."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hullscan.errors import DigestMismatch, HullscanError
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.streams import Limits, parse_digest

if TYPE_CHECKING:
    from hullscan.sources.interface import Platform
    from hullscan.supplychain.signatures import Target
    from hullscan.supplychain.trust import TrustPolicy, TrustRule

SCHEMA = "hullscan.verify/v1"


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found: ``verified`` when there is no problem; ``to_dict()`` is the
    ``hullscan.verify/v1`` document (``hullscan verify --format json``)."""

    image: str
    digest: str | None
    problems: tuple[str, ...]
    document: dict[str, Any] = field(hash=False, compare=False)

    @property
    def verified(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return self.document


def _policy_rule(policy: TrustPolicy, target: Target) -> tuple[TrustRule | None, dict[str, Any]]:
    """The rule covering the image (a registry image by its repository; an OCI layout is
    a local image) and the policy part of the report."""
    name = target.reference.canonical if target.reference is not None else None
    matched = policy.rule_for(name)
    if matched is None:
        shown_name = name or "a local image with no registry name"
        return None, {
            "source": policy.source,
            "rule": None,
            "problem": f"not from a trusted source: {shown_name} is not covered by any scope "
            f"of the trust policy ({policy.source})",
        }
    rule, scope = matched
    return rule, {
        "source": policy.source,
        "rule": rule.name,
        "scope": scope,
        "signature": rule.signature,
    }


def verify_image(
    ref: str,
    keys: Sequence[Path] = (),
    *,
    digest: str | None = None,
    trust_policy: TrustPolicy | None = None,
    identity: str | None = None,
    check_identity: bool = True,
    platform: Platform | None = None,
    registry: RegistrySettings | None = None,
    limits: Limits | None = None,
) -> VerifyReport:
    """Verify ``ref`` (a registry image or an OCI layout): one valid signature by any of
    ``keys`` (plus the keys of the trust policy's scope), the released ``digest`` and
    every blob's content, and the policy's source scope. Problems are in the report;
    what could not be checked (unreachable registry, unreadable key) raises."""
    from hullscan.supplychain.digests import verify_digests
    from hullscan.supplychain.signatures import (
        check_target,
        load_public_keys,
        parse_target,
        resolve_digest,
    )
    from hullscan.supplychain.store import referrers_tag, sig_tag

    if not keys and digest is None and trust_policy is None:
        raise HullscanError(
            "nothing to verify: give public keys, the released digest and/or a trust policy"
        )
    if identity and not check_identity:
        raise HullscanError("an identity to check was given, but identity checks are off")
    if digest is not None:
        parse_digest(digest)
    registry = registry or RegistrySettings()
    limits = limits or Limits()
    target = parse_target(ref, registry)
    problems: list[str] = []
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "image": ref,
        "digest": None,
        "verified": False,
        "signatures": None,
        "digests": None,
    }
    audit = False
    keys = tuple(keys)
    if trust_policy is not None:
        rule, doc["policy"] = _policy_rule(trust_policy, target)
        if rule is None:
            problems.append(doc["policy"]["problem"])
        elif rule.needs_signature:
            keys = (*keys, *(k for k in rule.keys if k not in keys))
            audit = rule.signature == "audit"
    public = load_public_keys(keys)  # an unreadable key raises, before any network

    found_digest: str | None = None
    if digest is not None:
        report = verify_digests(target, digest, platform=platform, settings=registry, limits=limits)
        found_digest = report.digest
        problems += report.problems()
        doc["digests"] = {
            "expected": digest,
            "digest": report.digest,
            "manifest_digest": report.manifest_digest,
            "ok": report.ok,
            "blobs": [
                {
                    "what": c.what,
                    "digest": c.digest,
                    "size": c.size,
                    "ok": c.problem is None,
                    "problem": c.problem,
                }
                for c in report.checks
            ],
        }
    checks = []
    if public:
        if found_digest is None and not problems:
            try:
                found_digest = resolve_digest(target, registry, limits)
            except DigestMismatch as e:
                problems.append(str(e))
        if found_digest is not None:
            checks = check_target(
                target,
                found_digest,
                public,
                settings=registry,
                limits=limits,
                identity=identity,
                check_identity=check_identity,
            )
            missing: list[str] = []
            if not checks:
                missing.append(
                    f"unsigned: no signature found (tag {sig_tag(found_digest)}, "
                    f"referrers of {found_digest}, tag "
                    f"{referrers_tag(found_digest)})"
                )
            elif not any(c.problem is None for c in checks):
                missing.append("no signature verifies")
            if audit:  # the policy only asks for a record of it
                doc["policy"]["audit"] = missing
            else:
                problems += missing
        doc["signatures"] = {
            "keys": [name for name, _ in public],
            "identity": (identity or target.identity) if check_identity else None,
            "results": [
                {
                    "location": c.location,
                    "key": c.key,
                    "verified": c.problem is None,
                    "problem": c.problem,
                }
                for c in checks
            ],
        }
    doc["digest"] = found_digest
    doc["verified"] = not problems
    doc["problems"] = problems
    return VerifyReport(ref, found_digest, tuple(problems), doc)
