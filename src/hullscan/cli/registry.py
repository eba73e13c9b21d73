"""Registry flags shared by every command that talks to a registry (scan, sbom, verify,
sign, pin) and the ``registries:`` section of hullscan.yaml, merged into one
``RegistrySettings``. Flags win over the file."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hullscan.sources.registry_settings import RegistrySettings

if TYPE_CHECKING:
    from hullscan.settings import Settings


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
        kwargs["registry_flags"] = RegistryFlags(
            tuple(kwargs.pop("insecure_registry")), kwargs.pop("ca_cert"), username, password
        )
        return f(*args, **kwargs)

    options = [
        click.option(
            "--insecure-registry",
            multiple=True,
            metavar="HOST[:PORT]",
            help="Allow plain HTTP to this registry (repeatable). Loopback "
            "registries always are; TLS is verified everywhere else.",
        ),
        click.option(
            "--ca-cert",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            envvar="HULLSCAN_CA_CERT",
            show_envvar=True,
            help="PEM bundle of extra CAs to trust for registry TLS.",
        ),
        click.option(
            "--username",
            envvar="HULLSCAN_USERNAME",
            show_envvar=True,
            help="Registry user name (default: ~/.docker/config.json, credential "
            "helpers, else anonymous).",
        ),
        click.option(
            "--password-stdin",
            is_flag=True,
            help="Read the registry password or token from standard input.",
        ),
        click.option("--password", envvar="HULLSCAN_PASSWORD", hidden=True),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def registry_settings(flags: RegistryFlags, settings: Settings) -> RegistrySettings:
    """The ``registries:`` settings with the flags added (flags win)."""
    base = settings.registries
    return replace(
        base,
        insecure=base.insecure | frozenset(flags.insecure),
        ca_bundle=flags.ca_cert or base.ca_bundle,
        username=flags.username,
        password=flags.password,
    )
