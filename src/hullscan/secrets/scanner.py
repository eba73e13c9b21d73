"""Secrets across the whole image: every layer's files, the config and the history.

The file analyzers ran during the single layer walk (and were cached per
layer); here their findings get their layer, the history line that created
it, and whether the file still ships in the final image — a key copied in one
layer and deleted in the next is still in the image for anyone who pulls it.
The image config (Env, Labels, Cmd, Entrypoint) and every history
``created_by`` line go through the same rule engine.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hullscan.model import Finding, FindingKind
from hullscan.pipeline import AnalyzedImage
from hullscan.secrets import SecretEngine, redact

#: the layer analyzers whose findings this scanner reports
FILE_ANALYZERS = ("secrets", "certificates")
REMEDIATION = (
    "Remove it from the image and rotate it; pass secrets at run time (a secret "
    "mount or an environment from a secret store), and use build secrets "
    "(RUN --mount=type=secret) instead of ARG/ENV."
)


def layer_findings(
    analyzed: AnalyzedImage, engine: SecretEngine, final_only: bool = False
) -> list[Finding]:
    """One finding per secret and path, dated to the first layer that added it."""
    image, fs = analyzed.image, analyzed.fs
    first: dict[tuple[str, str, int | None, str], Finding] = {}
    shipped: set[tuple[str, str, int | None, str]] = set()
    for index, layer in enumerate(analyzed.analyses):
        info = image.layers[index] if index < len(image.layers) else None
        for path, by_analyzer in layer.results.items():
            final = fs.final.get(path)
            in_final = final is not None and final[0] == index
            for name in FILE_ANALYZERS:
                result = by_analyzer.get(name)
                for f in result.findings if result else ():
                    key = (f.id, path, f.line, f.evidence)
                    if in_final:
                        shipped.add(key)
                    if key in first:
                        continue
                    details: dict[str, Any] = {**f.details, "layer_index": index}
                    if info is not None and info.created_by:
                        details["created_by"] = redact(info.created_by, engine)
                    first[key] = replace(f, path=path, layer=layer.diff_id, details=details)
    out = []
    for key, f in first.items():
        in_final = key in shipped
        if final_only and not in_final:
            continue
        details = {**f.details, "in_final_image": in_final}
        if not in_final:
            gone = _removed_in(analyzed, f.path or "", details["layer_index"])
            if gone is not None:
                details["removed_in_layer"] = gone
        out.append(replace(f, details=details))
    return out


def _removed_in(analyzed: AnalyzedImage, path: str, added: int) -> int | None:
    """The layer that deleted or replaced the version a finding was in."""
    for v in analyzed.fs.history.get(path, []):
        if v.layer > added:
            return v.layer
    return None


def config_findings(analyzed: AnalyzedImage, engine: SecretEngine) -> list[Finding]:
    """Secrets in the image config and history: build arguments leak there."""
    config = analyzed.image.image_config
    texts: list[tuple[str, str]] = [(f"Env[{i}]", env) for i, env in enumerate(config.env)]
    texts += [(f"Labels[{k}]", f"{k}={v}") for k, v in config.labels.items()]
    texts += [
        (key, " ".join(value))
        for key, value in (("Cmd", config.cmd), ("Entrypoint", config.entrypoint))
        if value
    ]
    texts += [
        (f"history[{i}]", h.created_by)
        for i, h in enumerate(config.history)
        if h is not None and h.created_by
    ]
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for where, text in texts:
        # Env and Labels read like a .env file, Cmd and history like a Dockerfile: the
        # path-scoped rules (generic password/token assignments) apply to them as such
        as_path = ".env" if where.startswith(("Env", "Labels")) else "Dockerfile"
        for m in engine.scan_text(text, as_path):
            if (m.rule.id, m.masked) in seen and where.startswith("history"):
                continue  # the same build argument echoed by every later RUN line
            seen.add((m.rule.id, m.masked))
            out.append(
                Finding(
                    kind=FindingKind.SECRET,
                    id=m.rule.id,
                    severity=m.rule.severity,
                    title=m.rule.title,
                    evidence=f"{where}: {m.masked}",
                    remediation=REMEDIATION,
                    details={
                        "where": where,
                        "category": m.rule.category,
                        "match": m.masked,
                        "in_final_image": True,
                    },
                )
            )
    return out
