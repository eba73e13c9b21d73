"""The admission webhook's reading of AdmissionReviews, its policy and its answers, without
a registry (tests/test_fleet.py judges real images in a local registry over HTTPS)."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import jsonpointer
import pytest

from hullscan.admission.evaluate import Evaluator
from hullscan.admission.policy import AdmissionPolicy
from hullscan.admission.review import MalformedReview, parse_review
from hullscan.admission.webhook import AdmissionWebhook
from hullscan.errors import ConfigError
from hullscan.jobs.verdict import Verdict
from hullscan.model import Severity
from hullscan.settings import Settings

from admissionreviews import KINDS, pod_spec, review, workload

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
REG = "registry.example.com"


class Verdicts:
    """Stored verdicts by digest; ``delay`` makes every look-up slow."""

    def __init__(self, verdicts: dict[str, Verdict], delay: float = 0.0) -> None:
        self.verdicts = verdicts
        self.delay = delay
        self.asked: list[str] = []

    def verdict(self, digest: str) -> Verdict | None:
        self.asked.append(digest)
        if self.delay:
            time.sleep(self.delay)
        return self.verdicts.get(digest)


CLEAN = Verdict(D1, f"{REG}/app:1", "2026-12-01T10:00:00Z", "v1", {"LOW": 2})
CRITICAL = Verdict(
    D2,
    f"{REG}/db:1",
    "2026-12-01T10:00:00Z",
    "v1",
    {"CRITICAL": 1, "MEDIUM": 3},
    (),
    ("CVE-2023-36095", "CVE-2024-1"),
)
KEV = Verdict(
    D3,
    f"{REG}/old:1",
    "2026-12-01T10:00:00Z",
    "v1",
    {"MEDIUM": 1},
    ("CVE-2021-44228",),
    ("CVE-2021-44228",),
)


def webhook(
    config: dict[str, Any] | None = None, verdicts: Verdicts | None = None, tmp: Path = Path(".")
) -> AdmissionWebhook:
    policy = AdmissionPolicy.from_section(config or {}, base_dir=tmp)
    store = verdicts or Verdicts({v.digest: v for v in (CLEAN, CRITICAL, KEV)})
    return AdmissionWebhook(Evaluator(policy, store))


def call(hook: AdmissionWebhook, doc: Any, mutate: bool = False) -> tuple[int, dict[str, Any]]:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return (hook.mutate if mutate else hook.validate)(body)


# -- reading reviews ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_workload_kind_lists_every_container_image(kind: str) -> None:
    spec = pod_spec(
        [f"{REG}/app@{D1}", f"{REG}/side:2"],
        init=[f"{REG}/init:1"],
        ephemeral=[f"{REG}/debug:1"] if kind == "Pod" else None,
    )
    obj = workload(kind, spec)
    parsed = parse_review(review(obj))
    assert parsed.kind == kind and parsed.namespace == "shop" and parsed.name == "web"
    found = {(c.list_name, c.image) for c in parsed.images}
    expected = {
        ("containers", f"{REG}/app@{D1}"),
        ("containers", f"{REG}/side:2"),
        ("initContainers", f"{REG}/init:1"),
    }
    if kind == "Pod":
        expected.add(("ephemeralContainers", f"{REG}/debug:1"))
    assert found == expected
    # every pointer names the image field of the object itself
    for c in parsed.images:
        assert jsonpointer.resolve_pointer(obj, c.pointer) == c.image


@pytest.mark.parametrize(
    "doc, why",
    [
        (
            {
                "kind": "AdmissionReview",
                "apiVersion": "admission.k8s.io/v1beta1",
                "request": {"uid": "1"},
            },
            "apiVersion",
        ),
        ({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}, "request"),
        (
            {
                "kind": "AdmissionReview",
                "apiVersion": "admission.k8s.io/v1",
                "request": {"kind": {"kind": "Pod"}, "operation": "CREATE"},
            },
            "uid",
        ),
        ([1, 2], "object"),
    ],
)
def test_malformed_reviews_are_errors(doc: Any, why: str) -> None:
    with pytest.raises(MalformedReview, match=why):
        parse_review(doc)


def _malformed_bodies() -> list[bytes]:
    good = review(workload("Deployment", pod_spec([f"{REG}/app@{D1}"])))
    no_image = json.loads(json.dumps(good))
    del no_image["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"]
    spec_not_mapping = json.loads(json.dumps(good))
    spec_not_mapping["request"]["object"]["spec"]["template"]["spec"] = "x"
    containers_not_list = json.loads(json.dumps(good))
    containers_not_list["request"]["object"]["spec"]["template"]["spec"]["containers"] = {}
    spaced = json.loads(json.dumps(good))
    spaced["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] = "a b"
    no_object = json.loads(json.dumps(good))
    no_object["request"]["object"] = None
    return [
        b"",
        b"{",
        b"null",
        b'"AdmissionReview"',
        b"\xff\xfe",
        b"[" * 1500,
        json.dumps({**good, "kind": "ConversionReview"}).encode(),
        *(
            json.dumps(d).encode()
            for d in (no_image, spec_not_mapping, containers_not_list, spaced, no_object)
        ),
    ]


@pytest.mark.parametrize("body", _malformed_bodies())
@pytest.mark.parametrize("mutate", [False, True])
def test_malformed_bodies_get_400_and_never_allowed(body: bytes, mutate: bool) -> None:
    hook = webhook(
        {"unscanned": "allow", "require_digest": False, "deny_severity": None, "fail_open": True}
    )
    status, doc = call(hook, body, mutate)
    assert status == 400
    assert "allowed" not in json.dumps(doc)
    assert doc["error"]


def test_body_size_limit() -> None:
    status, doc = call(webhook(), b"{" + b" " * (5 * 1024 * 1024) + b"}")
    assert status == 413 and "allowed" not in doc


# -- decisions ------------------------------------------------------------------------------


def decide(
    hook: AdmissionWebhook, images: list[str], kind: str = "Deployment", namespace: str = "shop"
) -> dict[str, Any]:
    status, doc = call(
        hook, review(workload(kind, pod_spec(images), namespace=namespace), uid="7f0d1c2e-uid")
    )
    assert status == 200
    assert doc["apiVersion"] == "admission.k8s.io/v1" and doc["kind"] == "AdmissionReview"
    response: dict[str, Any] = doc["response"]
    assert response["uid"] == "7f0d1c2e-uid"
    for w in response.get("warnings", []):
        assert len(w) < 120, w
    return response


def test_clean_digest_is_allowed() -> None:
    r = decide(webhook(), [f"{REG}/app@{D1}"])
    assert r["allowed"] is True and "status" not in r


def test_tag_only_is_refused_with_what_to_do() -> None:
    r = decide(webhook(), [f"{REG}/app@{D1}", f"{REG}/app:1.4"])
    assert r["allowed"] is False
    msg = r["status"]["message"]
    assert r["status"]["code"] == 403
    assert "c1 (registry.example.com/app:1.4)" in msg and "tag only" in msg
    assert "pin it by digest" in msg and "c0" not in msg


def test_critical_report_is_refused_naming_the_findings() -> None:
    r = decide(webhook(), [f"{REG}/db@{D2}"])
    assert r["allowed"] is False
    assert "1 finding(s) at or above HIGH" in r["status"]["message"]
    assert "CVE-2023-36095" in r["status"]["message"]
    # a higher threshold lets it through; a lower one still refuses
    assert decide(webhook({"deny_severity": "MEDIUM"}), [f"{REG}/app@{D1}"])["allowed"]
    assert not decide(webhook({"deny_severity": "LOW"}), [f"{REG}/app@{D1}"])["allowed"]
    assert decide(webhook({"deny_severity": None}), [f"{REG}/db@{D2}"])["allowed"]


def test_kev_finding_is_refused_unless_turned_off() -> None:
    r = decide(webhook(), [f"{REG}/old@{D3}"])
    assert not r["allowed"] and "CVE-2021-44228 (CISA KEV)" in r["status"]["message"]
    assert decide(webhook({"deny_kev": False}), [f"{REG}/old@{D3}"])["allowed"]


@pytest.mark.parametrize(
    "choice, allowed, warned", [("allow", True, False), ("warn", True, True), ("deny", False, True)]
)
def test_never_scanned(choice: str, allowed: bool, warned: bool) -> None:
    unknown = "sha256:" + "9" * 64
    r = decide(webhook({"unscanned": choice}), [f"{REG}/new@{unknown}"])
    assert r["allowed"] is allowed
    assert bool(r.get("warnings")) is warned
    if warned:
        assert "never scanned" in r["warnings"][0]


def test_unscanned_scan_enqueues_one_job_per_digest() -> None:
    submitted: list[tuple[str, str]] = []

    class Queue:
        def submit(self, image: str, digest: str) -> str:
            submitted.append((image, digest))
            return f"job-{len(submitted)}"

    unknown = "sha256:" + "9" * 64
    policy = AdmissionPolicy.from_section({"unscanned": "scan"})
    hook = AdmissionWebhook(Evaluator(policy, Verdicts({}), queue=Queue()))
    r = decide(hook, [f"{REG}/new:2@{unknown}"])
    assert not r["allowed"] and "scan job-1 queued" in r["status"]["message"]
    assert submitted == [(f"{REG}/new:2@{unknown}", unknown)]
    # a dry run has no side effects (sideEffects: NoneOnDryRun): refused, nothing queued
    dry = review(workload("Pod", pod_spec([f"{REG}/other@{unknown}"])))
    dry["request"]["dryRun"] = True
    status, doc = call(hook, dry)
    assert status == 200 and doc["response"]["allowed"] is False
    assert len(submitted) == 1


def test_warn_mode_allows_with_every_reason_as_a_warning() -> None:
    r = decide(webhook({"mode": "warn"}), [f"{REG}/db@{D2}", f"{REG}/app:1"])
    assert r["allowed"] is True and "status" not in r
    assert any("would deny c0" in w for w in r["warnings"])
    assert any("would deny c1" in w and "tag only" in w for w in r["warnings"])


def test_exempt_namespaces_and_images() -> None:
    hook = webhook(
        {
            "exempt_namespaces": ["kube-system"],
            "exempt_images": ["registry.example.com/db", "docker.io/library/*"],
        }
    )
    assert decide(hook, [f"{REG}/app:1"], namespace="kube-system")["allowed"]
    assert decide(hook, [f"{REG}/db@{D2}", "busybox:1.36"])["allowed"]
    assert not decide(hook, [f"{REG}/app:1"])["allowed"]


def test_delete_and_unknown_kinds_are_allowed() -> None:
    obj = workload("Pod", pod_spec([f"{REG}/app:1"]))
    status, doc = call(webhook(), review(obj, operation="DELETE"))
    assert status == 200 and doc["response"]["allowed"] is True
    cm = review(obj)
    cm["request"]["kind"]["kind"] = "ConfigMap"
    status, doc = call(webhook(), cm)
    assert doc["response"]["allowed"] is True
    assert "ConfigMap holds no pod spec" in doc["response"]["warnings"][0]


def test_long_reasons_make_short_warnings() -> None:
    long_repo = "team/" + "x" * 150
    r = decide(webhook(), [f"{REG}/{long_repo}:1"] * 3 + [f"{REG}/db@{D2}"])
    assert not r["allowed"]
    assert [w.split(":")[0] for w in r["warnings"]] == ["c0", "c1", "c2", "c3"]
    assert all(len(w) < 120 for w in r["warnings"])
    assert r["warnings"][3].startswith("c3: report of 2026-12-01 has 1 finding(s)")
    assert long_repo in r["status"]["message"]


# -- the budget -----------------------------------------------------------------------------


@pytest.mark.parametrize("fail_open", [False, True])
def test_budget_fails_closed_or_open(fail_open: bool) -> None:
    slow = Verdicts({CLEAN.digest: CLEAN}, delay=1.0)
    hook = webhook({"budget_seconds": 0.2, "fail_open": fail_open}, slow)
    started = time.monotonic()
    r = decide(hook, [f"{REG}/app@{D1}"])
    assert time.monotonic() - started < 0.9  # answered at the budget, not when done
    assert r["allowed"] is fail_open
    if fail_open:
        assert "allowed unchecked" in r["warnings"][0]
    else:
        assert "within the admission budget of 0.2 s" in r["status"]["message"]
        assert "fail_open: false" in r["status"]["message"]


@pytest.mark.parametrize("fail_open", [False, True])
def test_unreachable_store_fails_closed_or_open(fail_open: bool, tmp_path: Path) -> None:
    from hullscan.jobs.store import Store

    store = Store(f"sqlite:///{tmp_path / 'results.sqlite'}")
    (tmp_path / "results.sqlite").unlink()
    (tmp_path / "results.sqlite").mkdir()  # the file is gone: no table, no database
    store.engine.dispose()
    policy = AdmissionPolicy.from_section({"fail_open": fail_open})
    hook = AdmissionWebhook(Evaluator(policy, store))
    r = decide(hook, [f"{REG}/app@{D1}"])
    assert r["allowed"] is fail_open
    text = r["status"]["message"] if not fail_open else r["warnings"][0]
    assert "result store" in text


# -- the mutating endpoint --------------------------------------------------------------------


def test_mutate_pins_tags_from_a_resolver_and_the_patch_applies() -> None:
    hook = webhook()
    resolved = {"1.4": D1, "2": D2}
    hook.evaluator._resolve = lambda ref: _done(resolved[ref.tag or ""])  # type: ignore
    for kind in KINDS:
        obj = workload(kind, pod_spec([f"{REG}/app:1.4", f"{REG}/db@{D2}"], init=[f"{REG}/init:2"]))
        status, doc = call(hook, review(obj), mutate=True)
        assert status == 200 and doc["response"]["allowed"] is True
        assert doc["response"]["patchType"] == "JSONPatch"
        patch = json.loads(base64.b64decode(doc["response"]["patch"]))
        assert [p["op"] for p in patch] == ["replace", "replace"]
        for p in patch:
            jsonpointer.set_pointer(obj, p["path"], p["value"])
        parsed = parse_review(review(obj))
        assert {c.image for c in parsed.images} == {
            f"{REG}/app:1.4@{D1}",
            f"{REG}/db@{D2}",
            f"{REG}/init:2@{D2}",
        }


def _done(value: str) -> Any:
    from concurrent.futures import Future

    f: Future[str] = Future()
    f.set_result(value)
    return f


# -- policy settings ----------------------------------------------------------------------------


def test_policy_defaults_follow_the_design() -> None:
    p = Settings().admission
    assert (
        p.mode,
        p.require_digest,
        p.deny_severity,
        p.deny_kev,
        p.unscanned,
        p.budget_seconds,
        p.fail_open,
    ) == ("enforce", True, Severity.HIGH, True, "deny", 2.0, False)


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"mode": "audit"}, "mode must be one of enforce, warn"),
        ({"unscanned": "maybe"}, "unscanned must be one of"),
        ({"budget_seconds": 40}, "budget_seconds must be above 0 and at most 25"),
        ({"budget_seconds": "2"}, "budget_seconds must be a number"),
        ({"deny_severity": "SEVERE"}, "unknown severity"),
        ({"exempt_namespaces": "kube-system"}, "exempt_namespaces must be a list"),
        ({"trust_policy": "missing.yaml"}, "trust_policy: .*missing.yaml not found"),
        ({"fail_open": "yes"}, "fail_open must be true or false"),
        ({"deny": True}, "unknown setting"),
    ],
)
def test_bad_policy_is_one_clear_error(doc: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"hullscan.yaml: admission.*{message}"):
        Settings.from_mapping({"admission": doc}, "hullscan.yaml", tmp_path)


def test_signature_checks_are_shared_and_cached() -> None:
    """Concurrent reviews of one image share one check; later ones reuse its result."""
    from concurrent.futures import ThreadPoolExecutor

    from hullscan.admission.cache import LookupCache

    now = [0.0]
    calls: list[int] = []
    gate = threading.Event()

    def slow() -> bool:
        gate.wait(5)
        calls.append(1)
        return True

    cache: LookupCache[bool] = LookupCache(
        ThreadPoolExecutor(4), ttl=10, failure_ttl=1, clock=lambda: now[0], failed=lambda ok: not ok
    )
    first, second = cache.get("k", slow), cache.get("k", slow)
    assert first is second
    gate.set()
    assert first.result(5) is True
    assert cache.get("k", slow).result(5) and len(calls) == 1
    now[0] = 11.0  # expired
    assert cache.get("k", slow).result(5) and len(calls) == 2 and cache.runs == 2


@pytest.mark.parametrize("fail_open", [False, True])
def test_slow_tag_resolution_is_the_budget_not_a_refusal(fail_open: bool) -> None:
    """With require_digest: false a tag is resolved at the registry; one too slow for the
    budget is answered by fail_open, like any other look-up."""
    from concurrent.futures import Future

    hook = webhook({"require_digest": False, "budget_seconds": 0.2, "fail_open": fail_open})
    never: Future[str] = Future()
    hook.evaluator._resolve = lambda ref: never  # type: ignore[method-assign]
    r = decide(hook, [f"{REG}/app:1.4"])
    assert r["allowed"] is fail_open
    text = r["warnings"][0] if fail_open else r["status"]["message"]
    assert "admission budget" in text and "could not be resolved" not in text
