"""``hullscan.yaml`` / ``.hullscan.yaml`` parsed once into typed, frozen settings.

Every section has one parser and one type; a mistake is one ``ConfigError`` that names
the file, the key and what is wrong, raised before any image is read::

    registries: {default: ..., insecure: [...], ca_bundle: ..., mirrors: {...},
                 retries: 3, timeout: 60, keep_layers: false,
                 verify_diff_ids: true}
    checks:     {disable: [...], enable: [...], severity: {ID: SEV}, trusted_registries: [...]}
    secrets:    {rules: [...], disable: [...], allowlist: {...}, use_default: true}
    trust:      {policies: [...]}
    licenses:   {forbidden: [...], ..., severity: {CATEGORY: SEV}, packages: {...}, files: true}

The library takes a ``Settings`` value (``Settings()`` is every default); the CLI loads
one from a file and adds its flags with ``dataclasses.replace``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hullscan.checks.catalogue import CheckSettings
from hullscan.errors import ConfigError, HullscanError
from hullscan.licenses.policy import LicensePolicy
from hullscan.references import registry_host
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.yamltext import parse_yaml

if TYPE_CHECKING:
    from hullscan.admission.policy import AdmissionPolicy
    from hullscan.secrets.rules import RuleSet
    from hullscan.supplychain.trust import TrustPolicy

CONFIG_FILES = ("hullscan.yaml", ".hullscan.yaml")
_T = TypeVar("_T")


def read_yaml(path: Path) -> Any:
    """A YAML document from a user's file; unreadable or invalid is one clear error."""
    import yaml  # when a file is read: most commands run without one

    try:
        return parse_yaml(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None


@dataclass(frozen=True)
class SecretSettings:
    """The ``secrets:`` section: user rules, disabled rules, allowlists."""

    #: the user's section as written (empty: the built-in rules alone)
    section: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: a digest of ``section``; user rules change results, so it keys the layer cache
    token: str = ""

    def rules(self) -> RuleSet:
        """The built-in rules merged with the user's (validated when the settings load)."""
        from hullscan.secrets.rules import load_rules

        return load_rules(self.section)

    @classmethod
    def from_section(cls, section: Any) -> SecretSettings:
        from hullscan.secrets.rules import load_rules

        if not section:
            return cls()
        if not isinstance(section, Mapping):
            raise HullscanError("secrets: must be a mapping")
        load_rules(section)  # every mistake now, before any image is read
        token = hashlib.sha256(
            json.dumps(section, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        return cls(section, token)


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise HullscanError(f"registries.{key} must be a list of host names")
    return tuple(value)


def parse_registries(section: Any, base_dir: Path) -> RegistrySettings:
    """The ``registries:`` section (without credentials: those come from flags)."""
    section = section or {}
    if not isinstance(section, dict):
        raise HullscanError("registries must be a mapping")
    unknown = set(section) - {
        "default",
        "insecure",
        "ca_bundle",
        "mirrors",
        "retries",
        "timeout",
        "keep_layers",
        "verify_diff_ids",
    }
    if unknown:
        raise HullscanError(f"registries: unknown setting(s) {', '.join(sorted(unknown))}")
    mirrors_doc = section.get("mirrors") or {}
    if not isinstance(mirrors_doc, dict):
        raise HullscanError("registries.mirrors must map a registry to a list of mirrors")
    mirrors = {str(k): _strings(v, f"mirrors.{k}") for k, v in mirrors_doc.items()}
    for key, values in mirrors.items():
        for host in (key, *values):
            registry_host(host, f"registries.mirrors.{key}")
    ca = None
    if section.get("ca_bundle"):
        ca = Path(str(section["ca_bundle"]))
        ca = ca if ca.is_absolute() else base_dir / ca
        if not ca.is_file():
            raise HullscanError(f"registries.ca_bundle: {ca} not found")
    default = section.get("default", "docker.io")
    retries, timeout = section.get("retries", 3), section.get("timeout", 60)
    if not isinstance(default, str) or not default:
        raise HullscanError("registries.default must be a host name")
    registry_host(default, "registries.default")
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        raise HullscanError("registries.retries must be 0 to 10")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise HullscanError("registries.timeout must be a positive number of seconds")
    switches = {
        name: section.get(name, default)
        for name, default in (("keep_layers", False), ("verify_diff_ids", True))
    }
    for name, value in switches.items():
        if not isinstance(value, bool):
            raise HullscanError(f"registries.{name} must be true or false")
    return RegistrySettings(
        insecure=frozenset(_strings(section.get("insecure"), "insecure")),
        ca_bundle=ca,
        default_registry=default,
        mirrors=mirrors,
        retries=retries,
        timeout=float(timeout),
        **switches,
    )


def _parse_trust(section: Any, source: str, base_dir: Path) -> TrustPolicy | None:
    from hullscan.supplychain.trust import TrustPolicy

    return TrustPolicy.from_mapping(section, source, base_dir)


def _default_admission() -> AdmissionPolicy:
    from hullscan.admission.policy import AdmissionPolicy

    return AdmissionPolicy()


def _parse_admission(
    section: Any, source: str, base_dir: Path, trust: TrustPolicy | None
) -> AdmissionPolicy:
    from hullscan.admission.policy import AdmissionPolicy

    return AdmissionPolicy.from_section(section, source, base_dir, trust)


@dataclass(frozen=True)
class Settings:
    """Everything ``hullscan.yaml`` says, typed. ``Settings()`` is every default."""

    #: the file these settings came from ("" for the defaults)
    source: str = ""
    registries: RegistrySettings = field(default_factory=RegistrySettings)
    checks: CheckSettings = field(default_factory=CheckSettings)
    secrets: SecretSettings = field(default_factory=SecretSettings)
    trust: TrustPolicy | None = None
    licenses: LicensePolicy = field(default_factory=LicensePolicy)
    admission: AdmissionPolicy = field(default_factory=_default_admission)

    #: section name -> parser(section, source, directory of the file); one entry per section
    #: ``server`` belongs to ``hullscan server`` (hullscan.server.settings), not to scans
    SECTIONS = ("registries", "checks", "secrets", "trust", "licenses", "admission", "server")

    @classmethod
    def load(cls, path: Path | str | None = None, directory: Path = Path(".")) -> Settings:
        """The given file, else the first of ``CONFIG_FILES`` in ``directory``, else the
        defaults."""
        if isinstance(path, str):
            path = Path(path)
        if path is None:
            path = next((directory / p for p in CONFIG_FILES if (directory / p).is_file()), None)
            if path is None:
                return cls()
        return cls.from_mapping(read_yaml(path), str(path), path.parent)

    @classmethod
    def from_mapping(
        cls, doc: Any, source: str = "hullscan.yaml", base_dir: Path = Path(".")
    ) -> Settings:
        """Settings from a parsed document; paths in it are relative to ``base_dir``."""
        if doc is None:
            return cls(source=source)
        if not isinstance(doc, dict):
            raise ConfigError(f"{source}: expected a mapping of settings")
        unknown = sorted(set(doc) - set(cls.SECTIONS))
        if unknown:
            raise ConfigError(
                f"{source}: unknown section(s) {', '.join(map(str, unknown))} "
                f"(known: {', '.join(cls.SECTIONS)})"
            )

        def parse(parser: Callable[[Any], _T], key: str) -> _T:
            try:
                return parser(doc.get(key))
            except ConfigError:
                raise
            except HullscanError as e:
                message = str(e)
                raise ConfigError(
                    message if message.startswith(f"{source}:") else f"{source}: {message}"
                ) from None

        trust = parse(lambda s: _parse_trust(s, source, base_dir), "trust")
        return cls(
            source=source,
            registries=parse(lambda s: parse_registries(s, base_dir), "registries"),
            checks=parse(CheckSettings.from_section, "checks"),
            secrets=parse(SecretSettings.from_section, "secrets"),
            trust=trust,
            licenses=parse(LicensePolicy.from_section, "licenses"),
            admission=parse(lambda s: _parse_admission(s, source, base_dir, trust), "admission"),
        )


def load_trust_policy_file(path: Path) -> TrustPolicy:
    """``--trust-policy FILE``: its ``trust:`` section, or the file itself."""
    from hullscan.supplychain.trust import TrustPolicy

    doc = read_yaml(path)
    if isinstance(doc, dict) and "trust" in doc:
        doc = doc["trust"]
    try:
        policy = TrustPolicy.from_mapping(doc, str(path), path.parent)
    except ConfigError:
        raise
    except HullscanError as e:
        raise ConfigError(str(e)) from None
    if policy is None:
        raise ConfigError(f"{path}: empty trust policy")
    return policy


__all__ = [
    "CONFIG_FILES",
    "SecretSettings",
    "Settings",
    "load_trust_policy_file",
    "parse_registries",
    "read_yaml",
]
