"""The admission webhook's answers, independent of the HTTP framework serving them.

``AdmissionWebhook.validate(body)`` and ``.mutate(body)`` take the request body and give
(HTTP status, JSON document). A body that is not an AdmissionReview v1 gets 400 and an
error document, never an ``allowed`` answer. A review that cannot be judged within the
budget is answered by ``fail_open``: allowed with a warning, or refused (the default),
so the API server never waits past its own ``timeoutSeconds`` for hullscan.
"""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from hullscan.admission.evaluate import BudgetExceeded, Evaluator, ImageDecision
from hullscan.admission.policy import AdmissionPolicy
from hullscan.admission.review import API_VERSION, MalformedReview, Review, parse_review
from hullscan.errors import HullscanError
from hullscan.server.guard import ADMISSION_MAX_BODY

MAX_BODY_BYTES = ADMISSION_MAX_BODY  # an object (≤ 1.5 MiB in etcd) and its old version
MAX_WARNING = 119  # the API server shows warnings; kubectl cuts long ones
MAX_WARNINGS = 20
MAX_MESSAGE = 4000


def short(text: str, limit: int = MAX_WARNING) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _answer(
    uid: str,
    allowed: bool,
    *,
    message: str | None = None,
    warnings: list[str] | None = None,
    patch: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        response["status"] = {
            "code": 403,
            "reason": "Forbidden",
            "message": short(message or "denied", MAX_MESSAGE),
        }
    elif message:
        response["status"] = {"code": 200, "message": short(message, MAX_MESSAGE)}
    if warnings:
        unique = list(dict.fromkeys(short(w) for w in warnings))
        if len(unique) > MAX_WARNINGS:
            unique = [
                *unique[: MAX_WARNINGS - 1],
                f"hullscan: {len(unique) - MAX_WARNINGS + 1} more warnings",
            ]
        response["warnings"] = unique
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def _error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": short(message, MAX_MESSAGE)}


class AdmissionWebhook:
    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.policy: AdmissionPolicy = evaluator.policy
        # the review is judged here; its look-ups run in the evaluator's pool
        self._pool = ThreadPoolExecutor(8, thread_name_prefix="admission-review")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.evaluator.executor.shutdown(wait=False, cancel_futures=True)

    # -- endpoints ------------------------------------------------------------------------

    def validate(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """``POST /v1/admission``: allowed or refused, with the reasons."""
        review = self._parse(body)
        if isinstance(review, tuple):
            return review
        if review.operation not in ("CREATE", "UPDATE"):
            return 200, _answer(review.uid, True)
        if not review.inspected:
            return 200, _answer(
                review.uid,
                True,
                warnings=[f"hullscan: {review.kind} holds no pod spec hullscan inspects"],
            )
        try:
            decisions = self._run(self.evaluator.judge, review)
        except HullscanError as e:  # over budget, or the result store is unreachable
            return 200, self._undecided(review, str(e))
        return 200, self._decide(review, decisions)

    def mutate(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """``POST /v1/admission/mutate``: a JSON patch pinning tag-only images by digest.
        It refuses nothing; the validating webhook judges the pinned images."""
        review = self._parse(body)
        if isinstance(review, tuple):
            return review
        if review.operation not in ("CREATE", "UPDATE") or not review.inspected:
            return 200, _answer(review.uid, True)
        try:
            decisions = self._run(self.evaluator.pin, review)
        except HullscanError as e:
            return 200, _answer(review.uid, True, warnings=[f"hullscan: tags not pinned: {e}"])
        patch = [
            {"op": "replace", "path": d.container.pointer, "value": d.pinned}
            for d in decisions
            if d.pinned
        ]
        notes = [f"{d.who}: {n}" for d in decisions for n in d.notes]
        notes += [
            f"hullscan pinned {d.container.image} to {d.digest}" for d in decisions if d.pinned
        ]
        return 200, _answer(review.uid, True, warnings=notes, patch=patch)

    # -- pieces -------------------------------------------------------------------------

    def _parse(self, body: bytes) -> Review | tuple[int, dict[str, Any]]:
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            return _error(400, f"not JSON: {e}")
        except RecursionError:  # arrays or objects nested a thousand deep
            return _error(400, "not JSON hullscan reads: nested too deeply")
        try:
            return parse_review(doc)
        except MalformedReview as e:
            return _error(400, f"not an AdmissionReview {API_VERSION} request: {e}")

    def _run(self, judge: Any, review: Review) -> list[ImageDecision]:
        budget = self.policy.budget_seconds
        deadline = time.monotonic() + budget
        future = self._pool.submit(judge, review, deadline)
        try:
            decisions: list[ImageDecision] = future.result(timeout=budget)
        except FutureTimeout:
            raise BudgetExceeded(f"no answer within the admission budget of {budget:g} s") from None
        return decisions

    def _undecided(self, review: Review, why: str) -> dict[str, Any]:
        """No decision could be made: ``fail_open`` says what the answer is."""
        if self.policy.fail_open:
            return _answer(review.uid, True, warnings=[f"hullscan allowed unchecked: {why}"])
        return _answer(
            review.uid,
            False,
            message=f"hullscan could not check {review.kind} "
            f"{_name(review)}: {why}; retry shortly (fail_open: false)",
        )

    def _decide(self, review: Review, decisions: list[ImageDecision]) -> dict[str, Any]:
        refused = [d for d in decisions if d.problems]
        notes = [f"{d.who}: {n}" for d in decisions for n in d.notes]
        if not refused:
            return _answer(review.uid, True, warnings=notes)
        reasons = [f"{d.label}: {'; '.join(d.problems)}" for d in refused]
        warnings = [f"{d.who}: {p}" for d in refused for p in d.problems]
        if self.policy.mode == "warn":
            return _answer(
                review.uid, True, warnings=[f"hullscan would deny {w}" for w in warnings] + notes
            )
        message = f"hullscan denied {review.kind} {_name(review)}: " + " | ".join(reasons)
        return _answer(review.uid, False, message=message, warnings=warnings + notes)


def _name(review: Review) -> str:
    return f"{review.namespace}/{review.name}" if review.namespace else review.name


__all__ = ["MAX_BODY_BYTES", "AdmissionWebhook", "short"]
