"""AdmissionReview v1 requests as the Kubernetes API server sends them, for every workload
kind the webhook judges (the object shapes of apps/v1, batch/v1 and v1 Pod)."""

from __future__ import annotations

import copy
import uuid
from typing import Any

#: kind -> (group, version, resource)
KINDS: dict[str, tuple[str, str, str]] = {
    "Pod": ("", "v1", "pods"),
    "Deployment": ("apps", "v1", "deployments"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "DaemonSet": ("apps", "v1", "daemonsets"),
    "ReplicaSet": ("apps", "v1", "replicasets"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
}


def pod_spec(
    containers: list[str], init: list[str] | None = None, ephemeral: list[str] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {"name": f"c{i}", "image": img, "ports": [{"containerPort": 8080}]}
            for i, img in enumerate(containers)
        ],
        "restartPolicy": "Always",
    }
    if init:
        spec["initContainers"] = [{"name": f"init{i}", "image": img} for i, img in enumerate(init)]
    if ephemeral:
        spec["ephemeralContainers"] = [
            {"name": f"debug{i}", "image": img, "targetContainerName": "c0"}
            for i, img in enumerate(ephemeral)
        ]
    return spec


def workload(
    kind: str, spec: dict[str, Any], name: str = "web", namespace: str = "shop"
) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "labels": {"app": name}}
    template = {"metadata": {"labels": {"app": name}}, "spec": spec}
    group, version, _ = KINDS[kind]
    api = f"{group}/{version}" if group else version
    if kind == "Pod":
        return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}
    if kind == "CronJob":
        job_spec = {"template": {**template, "spec": {**spec, "restartPolicy": "OnFailure"}}}
        return {
            "apiVersion": api,
            "kind": kind,
            "metadata": meta,
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": job_spec}},
        }
    if kind == "Job":
        template = {**template, "spec": {**spec, "restartPolicy": "Never"}}
        return {
            "apiVersion": api,
            "kind": kind,
            "metadata": meta,
            "spec": {"template": template, "backoffLimit": 2},
        }
    body: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}, "template": template}
    if kind != "DaemonSet":
        body["replicas"] = 2
    if kind == "StatefulSet":
        body["serviceName"] = name
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": body}


def review(
    obj: dict[str, Any], operation: str = "CREATE", uid: str | None = None
) -> dict[str, Any]:
    kind = obj["kind"]
    group, version, resource = KINDS[kind]
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": resource}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid or str(uuid.uuid4()),
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"]["namespace"],
            "operation": operation,
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
            "object": copy.deepcopy(obj),
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }
