"""Registry flags shared by every command that talks to a registry (scan, sbom, verify,
sign, pin) and the ``registries:`` section of hullscan.yaml, merged into one
``RegistrySettings``. Flags win over the file."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from hullscan.errors import HullscanError
from hullscan.references import registry_host
from hullscan.sources.registry_settings import RegistrySettings


@dataclass(frozen=True)
class RegistryFlags:
    insecure: tuple[str, ...] = ()
    ca_cert: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def registry_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the registry flags; the command receives them as ``registry_flags``."""
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        password = kwargs.pop("password")
        if kwargs.pop("password_stdin"):
            if password is not None:
                raise click.UsageError("--password-stdin and HULLSCAN_PASSWORD are exclusive")
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise click.UsageError("--password-stdin: nothing on standard input")
        username = kwargs.pop("username")
        if password is not None and username is None:
            raise click.UsageError("a password needs --username")
        kwargs["registry_flags"] = RegistryFlags(tuple(kwargs.pop("insecure_registry")),
                                                 kwargs.pop("ca_cert"), username, password)
        return f(*args, **kwargs)

    options = [
        click.option("--insecure-registry", multiple=True, metavar="HOST[:PORT]",
                     help="Allow plain HTTP to this registry (repeatable). Loopback "
                          "registries always are; TLS is verified everywhere else."),
        click.option("--ca-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     envvar="HULLSCAN_CA_CERT", show_envvar=True,
                     help="PEM bundle of extra CAs to trust for registry TLS."),
        click.option("--username", envvar="HULLSCAN_USERNAME", show_envvar=True,
                     help="Registry user name (default: ~/.docker/config.json, credential "
                          "helpers, else anonymous)."),
        click.option("--password-stdin", is_flag=True,
                     help="Read the registry password or token from standard input."),
        click.option("--password", envvar="HULLSCAN_PASSWORD", hidden=True),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise HullscanError(f"hullscan.yaml: registries.{key} must be a list of host names")
    return tuple(value)


def registry_settings(flags: RegistryFlags, config: dict[str, Any]) -> RegistrySettings:
    """Flags plus ``registries:`` from the settings file."""
    section = config.get("registries") or {}
    if not isinstance(section, dict):
        raise HullscanError("hullscan.yaml: registries must be a mapping")
    unknown = set(section) - {"default", "insecure", "ca_bundle", "mirrors", "retries",
                              "timeout"}
    if unknown:
        raise HullscanError(f"hullscan.yaml: registries: unknown setting(s) "
                            f"{', '.join(sorted(unknown))}")
    mirrors_doc = section.get("mirrors") or {}
    if not isinstance(mirrors_doc, dict):
        raise HullscanError("hullscan.yaml: registries.mirrors must map a registry to a list "
                            "of mirrors")
    mirrors = {str(k): _strings(v, f"mirrors.{k}") for k, v in mirrors_doc.items()}
    for key, values in mirrors.items():
        for host in (key, *values):
            registry_host(host, f"hullscan.yaml: registries.mirrors.{key}")
    ca = flags.ca_cert or (Path(section["ca_bundle"]) if section.get("ca_bundle") else None)
    if ca is not None and not ca.is_file():
        raise HullscanError(f"{ca}: CA bundle not found")
    default = section.get("default", "docker.io")
    retries, timeout = section.get("retries", 3), section.get("timeout", 60)
    if not isinstance(default, str) or not default:
        raise HullscanError("hullscan.yaml: registries.default must be a host name")
    registry_host(default, "hullscan.yaml: registries.default")
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        raise HullscanError("hullscan.yaml: registries.retries must be 0 to 10")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise HullscanError("hullscan.yaml: registries.timeout must be a positive number "
                            "of seconds")
    return RegistrySettings(
        insecure=frozenset(_strings(section.get("insecure"), "insecure") + flags.insecure),
        ca_bundle=ca, username=flags.username, password=flags.password,
        default_registry=default, mirrors=mirrors, retries=retries, timeout=float(timeout))
