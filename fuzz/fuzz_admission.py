"""Fuzz the admission webhook with Kubernetes ``AdmissionReview`` bodies: ``parse_review``,
then the whole answer of ``AdmissionWebhook.validate`` or ``.mutate`` under one of several
policies, with stored verdicts and tag resolutions served from memory (no registry, no
store: the verdict is a function of the digest's last hex digit, see ``Verdicts``).

``data[0]``: bit 0 picks the endpoint (validate, mutate), the rest the policy (``POLICIES``);
``data[1:]`` is the request body.

Checked, beyond "nothing escapes ``validate``/``mutate``" and "only ``MalformedReview``
escapes ``parse_review``": a body that is not JSON or not an AdmissionReview v1 gets 400
and an error document, never an ``allowed`` answer; every other answer is 200 and carries
the request's ``uid``; a refusal says 403; warnings are fewer than 21 and each shorter than
120 characters; the mutating endpoint allows, and its patch replaces only image fields
with the same image pinned by digest; the validating endpoint never patches; with
``require_digest`` and ``enforce`` an image not named by digest is never allowed; a dry
run enqueues no scan; every image pointer ``parse_review`` reports names that image.
"""

from __future__ import annotations

import base64
import hashlib
import json
from concurrent.futures import Future
from typing import Any

from contract import ContractViolation, check_bounded, instrumented, main

with instrumented():
    from hullscan.admission.evaluate import Evaluator
    from hullscan.admission.policy import AdmissionPolicy
    from hullscan.admission.review import MalformedReview, parse_review
    from hullscan.admission.webhook import MAX_BODY_BYTES, AdmissionWebhook
    from hullscan.errors import HullscanError
    from hullscan.jobs.verdict import Verdict
    from hullscan.references import Reference, canonical_name, parse_reference

#: the budget is generous: a slow machine must not turn into "undecided" answers
BUDGET = 20
POLICIES: tuple[dict[str, Any], ...] = (
    {},
    {"mode": "warn"},
    {"require_digest": False, "unscanned": "warn"},
    {"unscanned": "scan", "deny_severity": "CRITICAL"},
    {
        "exempt_namespaces": ["kube-system"],
        "exempt_images": ["registry.k8s.io/*"],
        "deny_kev": False,
    },
    {"fail_open": True, "require_digest": False, "unscanned": "allow"},
)


class Verdicts:
    """A digest's last hex digit says what the store knows: 0-3 a clean report, 4-7 one
    with a critical finding, 8-b one with a known-exploited finding, c-d nothing, e-f the
    store is unreachable."""

    def verdict(self, digest: str) -> Verdict | None:
        last = int(digest[-1], 16) if digest[-1:] in "0123456789abcdef" else 0xC
        if last <= 3:
            return Verdict(digest, "clean", "2026-01-01T00:00:00Z", "v1", {"LOW": 1})
        if last <= 7:
            return Verdict(
                digest,
                "critical",
                "2026-01-01T00:00:00Z",
                "v1",
                {"CRITICAL": 1},
                (),
                ("CVE-2024-0001",),
            )
        if last <= 0xB:
            return Verdict(
                digest,
                "kev",
                "2026-01-01T00:00:00Z",
                "v1",
                {"MEDIUM": 1},
                ("CVE-2021-44228",),
                ("CVE-2021-44228",),
            )
        if last <= 0xD:
            return None
        raise HullscanError("the result store is unreachable")


class Queue:
    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, image: str, digest: str) -> str:
        self.submitted.append(digest)
        return f"job-{len(self.submitted)}"


class MemoryEvaluator(Evaluator):
    """Tags resolve in memory: to a digest made from the reference, or (tag ``gone``) to
    the registry's "not found"."""

    def _resolve(self, ref: Reference) -> Future[str]:
        future: Future[str] = Future()
        if ref.tag == "gone":
            future.set_exception(HullscanError(f"{ref}: manifest unknown"))
        else:
            future.set_result("sha256:" + hashlib.sha256(str(ref).encode()).hexdigest())
        return future


QUEUE = Queue()
HOOKS = [
    AdmissionWebhook(
        MemoryEvaluator(
            AdmissionPolicy.from_section({**p, "budget_seconds": BUDGET}), Verdicts(), queue=QUEUE
        )
    )
    for p in POLICIES
]


def _resolve_pointer(doc: Any, pointer: str) -> Any:
    node = doc
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _exempt(policy: AdmissionPolicy, image: str) -> bool:
    try:
        name: str | None = canonical_name(parse_reference(image).name)
    except HullscanError:
        name = None
    return policy.image_exempt(image, name)


def _no_digest(image: str) -> bool:
    try:
        return parse_reference(image).digest is None
    except HullscanError:
        return True


def _check_error(status: int, answer: dict[str, Any]) -> None:
    if status not in (400, 413):
        raise ContractViolation(f"a malformed body got {status}: {answer}")
    if set(answer) != {"error"} or not isinstance(answer["error"], str):
        raise ContractViolation(f"a malformed body got more than an error: {answer}")


def _check_answer(answer: dict[str, Any], uid: str) -> dict[str, Any]:
    response = answer.get("response")
    if answer.get("kind") != "AdmissionReview" or not isinstance(response, dict):
        raise ContractViolation(f"not an AdmissionReview answer: {answer}")
    if response.get("uid") != uid:
        raise ContractViolation(f"answer uid {response.get('uid')!r}, request uid {uid!r}")
    if not isinstance(response.get("allowed"), bool):
        raise ContractViolation("allowed is not a boolean")
    if not response["allowed"] and (response.get("status") or {}).get("code") != 403:
        raise ContractViolation(f"a refusal without 403: {response}")
    status = response.get("status") or {}
    check_bounded(len(status.get("message", "")), 4000, "status message")
    warnings = response.get("warnings", [])
    check_bounded(len(warnings), 20, "warnings")
    for w in warnings:
        if not isinstance(w, str) or len(w) >= 120:
            raise ContractViolation(f"warning of {len(w)} characters: {w!r}")
    return response


def _check_patch(response: dict[str, Any], obj: Any) -> None:
    if "patch" not in response:
        return
    if response.get("patchType") != "JSONPatch":
        raise ContractViolation("a patch without patchType JSONPatch")
    for op in json.loads(base64.b64decode(response["patch"])):
        if op["op"] != "replace" or not op["path"].endswith("/image"):
            raise ContractViolation(f"the patch does more than pin images: {op}")
        image = _resolve_pointer(obj, op["path"])
        if not (isinstance(image, str) and op["value"].startswith(image + "@sha256:")):
            raise ContractViolation(f"{op['path']}: {image!r} patched to {op['value']!r}")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mutating, policy = data[0] & 1, (data[0] >> 1) % len(POLICIES)
    body = data[1:]
    hook = HOOKS[policy]
    try:
        doc = json.loads(body)
        review = parse_review(doc)
    except (ValueError, UnicodeDecodeError, RecursionError, MalformedReview):
        review = None
    else:
        obj = doc["request"].get("object")
        for c in review.images:
            if _resolve_pointer(obj, c.pointer) != c.image:
                raise ContractViolation(f"pointer {c.pointer} does not name {c.image!r}")
    queued = len(QUEUE.submitted)
    status, answer = (hook.mutate if mutating else hook.validate)(body)
    if review is None or len(body) > MAX_BODY_BYTES:
        _check_error(status, answer)
        return
    if status != 200:
        raise ContractViolation(f"a well-formed review got {status}: {answer}")
    response = _check_answer(answer, review.uid)
    if mutating:
        if not response["allowed"]:
            raise ContractViolation("the mutating endpoint refused")
        _check_patch(response, obj)
        return
    if "patch" in response:
        raise ContractViolation("the validating endpoint patched")
    if review.dry_run and len(QUEUE.submitted) != queued:
        raise ContractViolation("a dry run enqueued a scan")
    if review.operation not in ("CREATE", "UPDATE"):
        if not response["allowed"]:
            raise ContractViolation(f"{review.operation} was refused")
        return
    p = hook.policy
    judged = [c for c in review.images if not _exempt(p, c.image)]
    if (
        p.mode == "enforce"
        and p.require_digest
        and not p.namespace_exempt(review.namespace)
        and review.inspected
        and response["allowed"]
        and any(_no_digest(c.image) for c in judged)
    ):
        raise ContractViolation("an image named by tag alone was allowed")


if __name__ == "__main__":
    main(test_one_input)
