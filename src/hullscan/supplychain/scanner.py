"""``scan --scanners supplychain``: is this the image I think it is?

Reports images not from a source the trust policy covers, images without a valid
signature by a key the policy requires, registry references not pinned by digest, and
tags that now point to a different image than the last time this machine saw them.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hullscan.checks.catalogue import Check
from hullscan.errors import HullscanError, ImageError
from hullscan.model import Finding, FindingKind, Severity
from hullscan.pipeline import AnalyzedImage
from hullscan.references import parse_name, parse_reference, split_path_and_tag
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.streams import Limits
from hullscan.supplychain.history import TagHistory
from hullscan.supplychain.trust import TrustPolicy, TrustRule

UNSIGNED = Check(
    "HS-SC-001",
    Severity.HIGH,
    "Image not signed",
    "Sign the image in the pipeline that builds it (hullscan sign IMAGE --key cosign.key, "
    "or cosign sign --key) and keep the public key in the trust policy.",
    ("CIS-Docker-4.5", "CIS-DI-0005"),
)
BAD_SIGNATURE = Check(
    "HS-SC-002",
    Severity.CRITICAL,
    "No valid signature by a trusted key",
    "Do not run the image until its publisher confirms it: the signatures present were "
    "made by other keys or for other content. Re-sign it with a trusted key if it is yours.",
    ("CIS-Docker-4.5", "CIS-DI-0005"),
)
UNTRUSTED_SOURCE = Check(
    "HS-SC-003",
    Severity.HIGH,
    "Image not from a trusted source",
    "Pull the image from a registry or repository the trust policy lists, or add a policy "
    "for its source after reviewing it.",
    ("CIS-Docker-4.2", "DL3026"),
)
NOT_PINNED = Check(
    "HS-SC-004",
    Severity.LOW,
    "Image reference not pinned by digest",
    "Reference the image as name:tag@sha256:… (hullscan pin rewrites Dockerfiles) so "
    "the same bytes are pulled every time.",
    ("CIS-Docker-4.2",),
)
TAG_MOVED = Check(
    "HS-SC-005",
    Severity.MEDIUM,
    "Tag now points to a different image",
    "Find out who re-pushed the tag and why; pin the digest you reviewed.",
    (),
)
CHECKS = (UNSIGNED, BAD_SIGNATURE, UNTRUSTED_SOURCE, NOT_PINNED, TAG_MOVED)


@dataclass(frozen=True)
class SupplyChainSettings:
    policy: TrustPolicy | None
    registry: RegistrySettings
    cache_dir: Path
    limits: Limits


@dataclass(frozen=True)
class _Subject:
    """The image as the supply chain sees it."""

    name: str | None  # HOST/REPO, canonical; None for a local image with no name
    tag: str | None
    pinned: bool | None  # None: not a registry reference (a file is its own bytes)
    history_key: str | None


def _finding(
    check: Check, evidence: str, severity: Severity | None = None, **details: Any
) -> Finding:
    return replace(
        check.finding(evidence, severity=severity, details=details), kind=FindingKind.SUPPLYCHAIN
    )


def _subject(analyzed: AnalyzedImage, ref: str, default_registry: str) -> _Subject:
    image = analyzed.image
    if image.transport == "registry":
        pulled = parse_reference(ref, default_registry)
        name = pulled.canonical
        return _Subject(
            name,
            pulled.tag,
            pulled.digest is not None,
            f"{name}:{pulled.tag}" if pulled.tag and not pulled.digest else None,
        )
    # a local file: judged by the name it carries (docker save's RepoTags, an OCI
    # layout's ref.name when it is a full reference)
    named = [n for t in image.repo_tags if "/" in t or ":" in t if (n := parse_name(t)) is not None]
    local_name = named[0].canonical if named else None
    history_key = None
    if image.transport == "oci" and ref.startswith("oci:"):
        with contextlib.suppress(ImageError):
            path, tag = split_path_and_tag(ref.removeprefix("oci:"))
            if tag and os.path.isdir(path):
                history_key = f"oci:{os.path.realpath(path)}:{tag}"
    return _Subject(local_name, None, None, history_key)


def _signature_findings(
    analyzed: AnalyzedImage,
    ref: str,
    rule: TrustRule,
    settings: SupplyChainSettings,
    summary: dict[str, Any],
) -> list[Finding]:
    image = analyzed.image
    severity = Severity.LOW if rule.signature == "audit" else None
    digests = [d for d in dict.fromkeys((image.reference_digest, image.manifest_digest)) if d]
    if not digests or image.transport not in ("registry", "oci"):
        return [
            _finding(
                UNSIGNED,
                f"{image.transport} images carry no signatures; "
                "verify the image in its registry or OCI layout",
                severity,
                policy=rule.name,
            )
        ]
    from hullscan.supplychain.signatures import check_signatures

    checks = []
    try:
        for digest in digests:
            checks += check_signatures(
                ref,
                digest,
                rule.keys,
                settings=settings.registry,
                cache_dir=settings.cache_dir,
                limits=settings.limits,
            )
    except HullscanError as e:
        return [
            _finding(
                UNSIGNED, f"signatures could not be looked up: {e}", severity, policy=rule.name
            )
        ]
    summary["signatures"] = [
        {"location": c.location, "key": c.key, "problem": c.problem} for c in checks
    ]
    if any(c.problem is None for c in checks):
        return []
    keys = ", ".join(str(k) for k in rule.keys)
    if not checks:
        return [
            _finding(
                UNSIGNED,
                f"no signature for {digests[0]} (policy {rule.name!r} requires one by {keys})",
                severity,
                policy=rule.name,
            )
        ]
    problems = "; ".join(f"{c.location}: {c.problem}" for c in checks)
    return [
        _finding(
            BAD_SIGNATURE,
            f"{len(checks)} signature(s), none valid for policy {rule.name!r} ({keys}): {problems}",
            severity,
            policy=rule.name,
            signatures=summary["signatures"],
        )
    ]


def supplychain_findings(
    analyzed: AnalyzedImage, ref: str, settings: SupplyChainSettings
) -> tuple[list[Finding], dict[str, Any]]:
    """The findings and a summary (trust rule, pinning, signatures) for the report."""
    image = analyzed.image
    subject = _subject(analyzed, ref, settings.registry.default_registry)
    findings: list[Finding] = []
    summary: dict[str, Any] = {
        "name": subject.name,
        "digest": image.reference_digest or image.manifest_digest,
        "pinned": subject.pinned,
    }
    if subject.pinned is False:
        findings.append(
            _finding(
                NOT_PINNED,
                f"{ref} names a tag, which its owner can "
                "re-point; it resolved to "
                f"{image.reference_digest or image.manifest_digest}",
                reference=ref,
            )
        )
    current = image.reference_digest or image.manifest_digest
    if subject.history_key and current:
        history = TagHistory(settings.cache_dir)
        try:
            move = history.observe(subject.history_key, current)
        finally:
            history.close()
        if move is not None:
            seen = datetime.fromtimestamp(move.previous_last_seen, UTC)
            findings.append(
                _finding(
                    TAG_MOVED,
                    f"{move.reference} is now {move.current}; it was {move.previous} "
                    f"when last seen on {seen:%Y-%m-%d %H:%M} UTC",
                    reference=move.reference,
                    previous=move.previous,
                    current=move.current,
                )
            )
    policy = settings.policy
    if policy is None:
        summary["policy"] = None
        return findings, summary
    matched = policy.rule_for(subject.name)
    if matched is None:
        shown = subject.name or "a local image with no registry name"
        findings.append(
            _finding(
                UNTRUSTED_SOURCE,
                f"{shown} is not covered by any scope of the trust policy ({policy.source})",
                name=subject.name,
            )
        )
        summary["policy"] = None
        return findings, summary
    rule, scope = matched
    summary["policy"] = {"name": rule.name, "scope": scope, "signature": rule.signature}
    if rule.needs_signature:
        findings += _signature_findings(analyzed, ref, rule, settings, summary)
    return findings, summary


__all__ = ["CHECKS", "SupplyChainSettings", "supplychain_findings"]
