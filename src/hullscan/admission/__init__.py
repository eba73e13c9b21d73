"""The Kubernetes admission webhook: judge the images of a workload by the ``admission:``
policy from stored results and cached signature checks, within a time budget.

- ``review``: parse an AdmissionReview v1 into the images of its pod spec.
- ``policy``: the ``admission:`` section of hullscan.yaml, typed.
- ``evaluate``: the decision per image (digest, trust policy, stored verdict).
- ``webhook``: the AdmissionReview answers (validating and mutating), budget, fail-open.
- ``app``: the HTTPS endpoints (Starlette routes, served by uvicorn).
"""
