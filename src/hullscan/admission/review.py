"""Read a Kubernetes ``AdmissionReview`` (``admission.k8s.io/v1``): who is asking, and
every container image of the object, with the JSON pointer of its ``image`` field.

Pods carry their pod spec at ``spec``; Deployments, StatefulSets, DaemonSets, ReplicaSets,
ReplicationControllers and Jobs at ``spec.template.spec``; CronJobs at
``spec.jobTemplate.spec.template.spec``. A review that does not have this shape is a
``MalformedReview``: the webhook answers 400 and never allows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hullscan.errors import HullscanError

API_VERSION = "admission.k8s.io/v1"
#: where each kind keeps its pod spec
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
MAX_CONTAINERS = 1000  # per list; the API server's own limits are far lower


class MalformedReview(HullscanError):
    """Not an AdmissionReview v1 request hullscan can judge."""


@dataclass(frozen=True)
class ContainerImage:
    container: str  # the container's name
    list_name: str  # containers | initContainers | ephemeralContainers
    image: str  # as written in the object
    pointer: str  # JSON pointer of the image field, for a JSON patch


@dataclass(frozen=True)
class Review:
    uid: str
    kind: str  # the object's kind (Pod, Deployment, …)
    namespace: str
    name: str
    operation: str  # CREATE | UPDATE | DELETE | CONNECT
    images: tuple[ContainerImage, ...]
    #: the object's kind holds no pod spec hullscan knows (nothing to judge)
    inspected: bool = True
    #: a dry run (``kubectl --dry-run=server``): no side effects, no scan enqueued
    dry_run: bool = False


def _pointer(parts: tuple[str | int, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedReview(f"{what} must be an object")
    return value


def _text(value: Any, what: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise MalformedReview(f"{what} must be a non-empty string")
    return value


def _images(spec: dict[str, Any], base: tuple[str, ...], where: str) -> list[ContainerImage]:
    out = []
    for list_name in CONTAINER_LISTS:
        items = spec.get(list_name)
        if items is None:
            continue
        if not isinstance(items, list) or len(items) > MAX_CONTAINERS:
            raise MalformedReview(f"{where}.{list_name} must be a list of containers")
        for i, c in enumerate(items):
            at = f"{where}.{list_name}[{i}]"
            c = _mapping(c, at)
            image = _text(c.get("image"), f"{at}.image")
            if not image.isprintable() or " " in image or len(image) > 1024:
                raise MalformedReview(f"{at}.image is not an image reference")
            out.append(
                ContainerImage(
                    _text(c.get("name"), f"{at}.name", required=False),
                    list_name,
                    image,
                    _pointer((*base, list_name, i, "image")),
                )
            )
    return out


def parse_review(doc: Any) -> Review:
    """The request of an AdmissionReview document (already decoded from JSON)."""
    doc = _mapping(doc, "the body")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != "AdmissionReview":
        raise MalformedReview(f"expected kind AdmissionReview, apiVersion {API_VERSION}")
    request = _mapping(doc.get("request"), "request")
    uid = _text(request.get("uid"), "request.uid")
    operation = _text(request.get("operation"), "request.operation")
    namespace = _text(request.get("namespace"), "request.namespace", required=False)
    kind_doc = _mapping(request.get("kind"), "request.kind")
    kind = _text(kind_doc.get("kind"), "request.kind.kind")
    obj = request.get("object")
    if operation in ("DELETE", "CONNECT") or obj is None:
        if operation in ("CREATE", "UPDATE"):
            raise MalformedReview(f"request.object is missing for {operation}")
        return Review(
            uid,
            kind,
            namespace,
            _text(request.get("name"), "request.name", required=False),
            operation,
            (),
        )
    obj = _mapping(obj, "request.object")
    meta = obj.get("metadata")
    meta = _mapping(meta, "request.object.metadata") if meta is not None else {}
    name = _text(
        request.get("name") or meta.get("name") or meta.get("generateName"),
        "request.name",
        required=False,
    )
    namespace = namespace or _text(meta.get("namespace"), "metadata.namespace", required=False)
    dry_run = request.get("dryRun") is True
    path = POD_SPEC_PATHS.get(kind)
    if path is None:
        return Review(uid, kind, namespace, name, operation, (), inspected=False, dry_run=dry_run)
    node: Any = obj
    where = "request.object"
    for part in path:
        where += f".{part}"
        node = _mapping(node.get(part) if isinstance(node, dict) else None, where)
    return Review(
        uid, kind, namespace, name, operation, tuple(_images(node, path, where)), dry_run=dry_run
    )


__all__ = [
    "API_VERSION",
    "POD_SPEC_PATHS",
    "ContainerImage",
    "MalformedReview",
    "Review",
    "parse_review",
]
