"""``hullscan keygen``, ``sign`` and ``verify``: image provenance, compatible with cosign's
key-based signatures (``cosign generate-key-pair``, ``cosign sign --key``, ``cosign verify
--key``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from hullscan.cli.common import load_settings
from hullscan.cli.registry import RegistryFlags, registry_options, registry_settings
from hullscan.errors import HullscanError, shown
from hullscan.sources.interface import Platform
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.streams import parse_digest

EXIT_OK, EXIT_FAILED = 0, 1

REFS_HELP = """IMAGE is where the image and its signatures live:

\b
  registry:HOST/REPO[:TAG|@DIGEST]  a registry (signatures: tag sha256-<hex>.sig, referrers)
  NAME[:TAG]                        a registry image, e.g. ghcr.io/org/app:1
  oci:DIR[:TAG]                     an OCI layout (signatures: index.json entries)

Keys, payloads and signature storage are cosign's key-based format (`cosign
generate-key-pair`, `cosign sign --key`). The key password comes from
$COSIGN_PASSWORD, or a prompt on a terminal.
"""


def _settings(flags: RegistryFlags, config_file: Path | None) -> RegistrySettings:
    return registry_settings(flags, load_settings(config_file))


def password_from_env_or_tty(confirm: bool) -> bytes:
    """``$COSIGN_PASSWORD`` (empty allowed, as cosign does), else a prompt on a terminal."""
    import os

    from hullscan.errors import KeyFileError
    from hullscan.supplychain.keys import PASSWORD_ENV

    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV].encode()
    if not sys.stdin.isatty():
        raise KeyFileError(
            f"the key needs a password: set {PASSWORD_ENV} (it may be empty) or run on a terminal"
        )
    import getpass

    first = getpass.getpass("Enter password for private key: ")
    if confirm and getpass.getpass("Enter password for private key again: ") != first:
        raise KeyFileError("the passwords do not match")
    return first.encode()


_config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (default: ./hullscan.yaml or ./.hullscan.yaml): 'registries:'.",
)


@click.command()
@click.option(
    "--output-key-prefix",
    default="cosign",
    show_default=True,
    metavar="PREFIX",
    help="Write PREFIX.key (encrypted private key) and PREFIX.pub.",
)
def keygen(output_key_prefix: str) -> None:
    """Create a cosign key pair: ECDSA P-256, the private key encrypted with a password
    ($COSIGN_PASSWORD, or asked for twice on a terminal; may be empty)."""
    from hullscan.supplychain.keys import write_keypair

    key, pub = write_keypair(output_key_prefix, password_from_env_or_tty(True))
    click.echo(f"Private key written to {key}")
    click.echo(f"Public key written to {pub}")


def _annotations(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        k, sep, val = v.partition("=")
        if not sep or not k:
            raise click.UsageError(f"--annotation {v!r}: expected KEY=VALUE")
        out[k] = val
    return out


@click.command(epilog=REFS_HELP)
@click.argument("image")
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key (cosign.key, or a PEM PKCS#8 / EC private key).",
)
@click.option(
    "-a",
    "--annotation",
    "annotations",
    multiple=True,
    metavar="KEY=VALUE",
    help="Add to the signed payload's 'optional' section (repeatable).",
)
@click.option(
    "--identity",
    metavar="HOST/REPO",
    help="The docker-reference to sign for (default: the image's repository; "
    "for an OCI layout, localhost/<directory name>).",
)
@click.option(
    "--bundle",
    "as_bundle",
    is_flag=True,
    help="Write cosign v3's format: a Sigstore bundle (DSSE, in-toto statement) "
    "attached as an OCI 1.1 referrer, instead of the .sig tag. It carries no "
    "transparency-log entry: hullscan signs offline.",
)
@_config_option
@registry_options
def sign(
    image: str,
    key_path: Path,
    annotations: tuple[str, ...],
    identity: str | None,
    as_bundle: bool,
    config_file: Path | None,
    registry_flags: RegistryFlags,
) -> None:
    """Sign IMAGE's manifest digest with a key and store the signature where cosign does.

    Signing again adds a signature; earlier ones are kept.
    """
    from hullscan.supplychain.keys import load_private_key
    from hullscan.supplychain.signatures import parse_target, sign_image

    if as_bundle and identity:
        raise click.UsageError(
            "--identity does not apply to --bundle (a bundle names no repository)"
        )
    extra = _annotations(annotations)
    settings = _settings(registry_flags, config_file)
    parse_target(image, settings)  # somewhere to keep a signature, before any password
    key = load_private_key(key_path, password_from_env_or_tty)
    signed = sign_image(
        image,
        key,
        settings=settings,
        annotations=extra or None,
        identity=identity,
        bundle=as_bundle,
    )
    if as_bundle:
        click.echo(f"Signed {signed.digest} (Sigstore bundle)")
    else:
        click.echo(f"Signed {signed.digest} as {signed.identity}")
    click.echo(f"Signature stored in {signed.location}")


def _mark(ok: bool) -> str:
    return "ok  " if ok else "FAIL"


@click.command(
    epilog=REFS_HELP
    + """
\b
Exit codes: 0 verified; 1 not verified (unsigned, no signature verifies, or a
digest does not match: the reason is printed); 2 could not check (unreachable
registry, unreadable key, wrong password, bad arguments).
"""
)
@click.argument("image")
@click.option(
    "--key",
    "keys",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Public key (cosign.pub); repeatable: one valid signature by any of them is enough.",
)
@click.option(
    "--digest",
    "expected",
    metavar="sha256:…",
    help="The digest the publisher released; also re-hashes every blob (fetched "
    "afresh from a registry, never from the cache).",
)
@click.option(
    "--identity",
    metavar="HOST/REPO",
    help="The docker-reference signatures must name (default: the registry "
    "repository; not checked for an OCI layout unless given).",
)
@click.option(
    "--ignore-identity",
    is_flag=True,
    help="Accept signatures made for another repository (e.g. a mirror's copy).",
)
@click.option(
    "--platform",
    metavar="OS/ARCH[/VARIANT]",
    help="With --digest: the image of a multi-platform index to check (default: this host's).",
)
@click.option(
    "--trust-policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Judge IMAGE by a trust policy (its source must be in a scope; that "
    "scope's keys must have signed it). Without --key and --digest, the "
    "trust: section of the settings file is used.",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    default="table",
    show_default=True,
    type=click.Choice(["table", "json"]),
    help="Output format.",
)
@_config_option
@registry_options
def verify(
    image: str,
    keys: tuple[Path, ...],
    expected: str | None,
    identity: str | None,
    ignore_identity: bool,
    platform: str | None,
    trust_policy: Path | None,
    fmt: str,
    config_file: Path | None,
    registry_flags: RegistryFlags,
) -> None:
    """Check IMAGE's signatures with public keys and/or its digests against a release.

    \b
    Examples:
      hullscan verify registry:ghcr.io/org/app:1.4 --key cosign.pub
      hullscan verify oci:./layout:1.4 --digest sha256:4c1c50d0… --key cosign.pub
    """
    from hullscan.settings import load_trust_policy_file
    from hullscan.supplychain.verify import verify_image

    settings = load_settings(config_file)
    # the settings file's trust: section only when nothing else was asked for
    policy = (
        load_trust_policy_file(trust_policy)
        if trust_policy is not None
        else (settings.trust if not (keys or expected) else None)
    )
    if not keys and expected is None and policy is None:
        raise click.UsageError(
            "nothing to verify: give --key PUB (signatures), --digest "
            "sha256:… (the released digest) and/or --trust-policy FILE"
        )
    if identity and ignore_identity:
        raise click.UsageError("--identity and --ignore-identity are exclusive")
    if expected is not None:
        try:
            parse_digest(expected)
        except HullscanError as e:
            raise click.UsageError(f"--digest: {e}") from None
    report = verify_image(
        image,
        keys,
        digest=expected,
        trust_policy=policy,
        identity=identity,
        check_identity=not ignore_identity,
        platform=Platform.parse(platform) if platform else None,
        registry=registry_settings(registry_flags, settings),
    )
    doc = report.to_dict()
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(_table(doc))
    raise click.exceptions.Exit(EXIT_OK if report.verified else EXIT_FAILED)


def _table(doc: dict[str, Any]) -> str:
    lines = [f"image   {shown(doc['image'])}", f"digest  {doc['digest'] or '-'}"]
    policy = doc.get("policy")
    if policy is not None and policy["rule"] is not None:
        lines.append(
            f"policy  {policy['rule']} (scope {policy['scope']}, signature "
            f"{policy['signature']}; {policy['source']})"
        )
        lines += [f"  audit: {p}" for p in policy.get("audit", [])]
    sigs = doc.get("signatures")
    if sigs is not None:
        lines.append("")
        lines.append(f"signatures (keys: {', '.join(sigs['keys'])})")
        if not sigs["results"]:
            lines.append("  none found")
        width = max((len(r["location"]) for r in sigs["results"]), default=0)
        for r in sigs["results"]:
            what = f"verified with {r['key']}" if r["verified"] else r["problem"]
            lines.append(f"  {_mark(r['verified'])}  {r['location']:<{width}}  {what}")
    digests = doc.get("digests")
    if digests is not None:
        lines.append("")
        lines.append(f"digests (released: {digests['expected']})")
        width = max((len(b["what"]) for b in digests["blobs"]), default=0)
        for b in digests["blobs"]:
            what = b["problem"] or "matches"
            lines.append(f"  {_mark(b['ok'])}  {b['what']:<{width}}  {b['digest']}  {what}")
    lines.append("")
    if doc["problems"]:
        lines.append("NOT VERIFIED:")
        lines += [f"  - {p}" for p in doc["problems"]]
    else:
        lines.append("VERIFIED")
    return "\n".join(lines)
