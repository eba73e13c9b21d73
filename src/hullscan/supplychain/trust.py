"""The trust policy: which registries and repositories an image may come from, and which
keys must have signed it (in the spirit of Notation's trust policy).

In hullscan.yaml, or a file of its own given with ``--trust-policy``::

    trust:
      policies:
        - name: team-images
          scopes: [registry.example.com/team]    # a registry, or a registry/repository prefix
          keys: [keys/team.pub]                  # any one of them must have signed the image
        - name: official
          scopes: [docker.io/library]
          signature: audit                       # enforce (default) | audit | skip
        - name: local-builds
          scopes: [local]                        # images read from files with no registry name

An image whose name no scope covers is "not from a trusted source". The most specific
scope wins (``registry.example.com/team/app`` over ``registry.example.com``); ``*``
matches every name. Key paths are relative to the file that names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hullscan.errors import HullscanError
from hullscan.references import canonical_name

SIGNATURE_MODES = ("enforce", "audit", "skip")
#: the scope of images read from local files (archives, layouts) that carry no registry name
LOCAL_SCOPE = "local"


@dataclass(frozen=True)
class TrustRule:
    name: str
    scopes: tuple[str, ...]
    keys: tuple[Path, ...]
    signature: str = "enforce"

    @property
    def needs_signature(self) -> bool:
        return self.signature != "skip" and bool(self.keys)


@dataclass(frozen=True)
class TrustPolicy:
    rules: tuple[TrustRule, ...]
    source: str = "hullscan.yaml"

    def rule_for(self, name: str | None) -> tuple[TrustRule, str] | None:
        """The rule (and the scope) that covers an image name (``None``: a local image with
        no registry name); the most specific scope wins."""
        best: tuple[int, TrustRule, str] | None = None
        target = canonical_name(name) if name else None
        for rule in self.rules:
            for scope in rule.scopes:
                if scope == "*":
                    rank = 0
                elif scope == LOCAL_SCOPE:
                    rank = 1 if target is None else -1
                elif target is not None and (target == scope or target.startswith(scope + "/")):
                    rank = 2 + scope.count("/") + (1 if target == scope else 0)
                else:
                    rank = -1
                if rank >= 0 and (best is None or rank > best[0]):
                    best = (rank, rule, scope)
        return (best[1], best[2]) if best else None

    @classmethod
    def from_mapping(cls, doc: Any, source: str, base_dir: Path) -> TrustPolicy | None:
        """The ``trust:`` section (None when absent); errors name the file and the rule."""
        if doc is None:
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("policies"), list):
            raise HullscanError(f"{source}: trust: needs a 'policies' list")
        unknown = set(doc) - {"policies"}
        if unknown:
            raise HullscanError(f"{source}: trust: unknown setting(s) {', '.join(sorted(unknown))}")
        rules = []
        for i, item in enumerate(doc["policies"]):
            where = f"{source}: trust.policies[{i}]"
            if not isinstance(item, dict):
                raise HullscanError(f"{where}: expected a mapping")
            extra = set(item) - {"name", "scopes", "keys", "signature"}
            if extra:
                raise HullscanError(f"{where}: unknown setting(s) {', '.join(sorted(extra))}")
            name = item.get("name", f"policy {i + 1}")
            scopes, keys = item.get("scopes"), item.get("keys") or []
            if (
                not isinstance(scopes, list)
                or not scopes
                or not all(isinstance(s, str) and s.strip() for s in scopes)
            ):
                raise HullscanError(
                    f"{where}: scopes must be a non-empty list of registries "
                    "or registry/repository prefixes"
                )
            if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
                raise HullscanError(f"{where}: keys must be a list of public key files")
            mode = item.get("signature", "enforce" if keys else "skip")
            if mode not in SIGNATURE_MODES:
                raise HullscanError(
                    f"{where}: signature must be one of {', '.join(SIGNATURE_MODES)}"
                )
            if mode != "skip" and not keys:
                raise HullscanError(f"{where}: signature: {mode} needs keys")
            key_paths = tuple(
                (base_dir / k).resolve() if not Path(k).is_absolute() else Path(k) for k in keys
            )
            for k in key_paths:
                if not k.is_file():
                    raise HullscanError(f"{where}: key file {k} not found")
            rules.append(
                TrustRule(str(name), tuple(_scope(s, where) for s in scopes), key_paths, mode)
            )
        return cls(tuple(rules), source)


def _scope(text: str, where: str) -> str:
    scope = text.strip().removeprefix("docker://").rstrip("/")
    if scope in ("*", LOCAL_SCOPE):
        return scope
    first = scope.partition("/")[0]
    if "@" in scope or (":" in scope.rpartition("/")[2] and "/" in scope):
        raise HullscanError(
            f"{where}: scope {text!r} names a tag or digest; scopes are registries or repositories"
        )
    if not ("." in first or ":" in first or first == "localhost"):
        raise HullscanError(
            f"{where}: scope {text!r} has no registry host (write docker.io/{scope} for Docker Hub)"
        )
    return canonical_name(scope, repository=False)
