"""``hullscan squash``: one layer holding the image's final filesystem."""

from __future__ import annotations

import os
from pathlib import Path

import click

from hullscan.cli.common import cache_dir_option, config_option, load_settings
from hullscan.cli.registry import RegistryFlags, registry_options, registry_settings
from hullscan.errors import HullscanError

OUTPUT_HELP = """
OUTPUT is where the squashed image goes:

\b
  oci:DIR[:TAG]                  an OCI layout (created, or the tag added or replaced)
  oci-archive:PATH[:TAG]         a tar of an OCI layout
  docker-archive:PATH[:TAG]      a `docker load`-able archive (TAG like name:1.0)
  PATH                           PATH.tar: a docker archive; otherwise an OCI layout

The same image gives the same digest: entries are sorted, timestamps clamped to
$SOURCE_DATE_EPOCH (default: the newest timestamp in the image) and gzip settings
fixed. Temporary data (the final files, once) goes under the cache directory.
"""


@click.command(epilog=OUTPUT_HELP)
@click.argument("image")
@click.argument("output", required=False)
@click.option(
    "--push",
    metavar="registry:HOST/REPO:TAG",
    help="Also push the squashed image to this registry tag (layers streamed "
    "from disk; blobs the repository has are not sent again).",
)
@click.option(
    "--keep-base",
    metavar="N|IMAGE",
    help="Keep the bottom N layers (or the layers of base IMAGE, which must be the "
    "image's bottom layers) as they are, so pulls still share them; squash "
    "the rest into one layer.",
)
@click.option(
    "--platform",
    metavar="OS/ARCH[/VARIANT]",
    help="Image to pick from a multi-platform index (default: this host's).",
)
@cache_dir_option
@click.option("--no-cache", is_flag=True, help="Read every layer's headers afresh.")
@config_option
@registry_options
@click.pass_context
def squash(
    ctx: click.Context,
    /,
    image: str,
    output: str | None,
    push: str | None,
    keep_base: str | None,
    platform: str | None,
    cache_dir: Path | None,
    no_cache: bool,
    config_file: Path | None,
    registry_flags: RegistryFlags,
) -> None:
    """Write IMAGE as one layer holding exactly its final filesystem.

    Files that later layers delete or replace (and any secret in them) no longer
    ship, and the history keeps one entry. Whiteouts and opaque directories are
    applied; files, directories, symlinks, hard links, device nodes, modes, owners
    and extended attributes are kept, as are Env, Entrypoint, Cmd, User,
    WorkingDir, Labels, ExposedPorts and Healthcheck.

    \b
    Examples:
      hullscan squash app.tar oci:./squashed:1.0
      hullscan squash docker:myapp:dev docker-archive:app-flat.tar:myapp:flat
      hullscan squash oci:./layout:1.0 oci:./layout:1.0-flat --keep-base 1
      hullscan squash registry:reg.example/app:1 --push registry:reg.example/app:1-flat
    """
    from hullscan import api

    epoch_text = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch_text is not None and not epoch_text.strip().isdigit():
        raise HullscanError(f"SOURCE_DATE_EPOCH={epoch_text!r}: not a number of seconds")
    if output is None and push is None:
        raise click.UsageError("give an OUTPUT, --push registry:…, or both")
    settings = load_settings(config_file)
    result = api.squash(
        image,
        output,
        push=push,
        keep_base=keep_base,
        source_date_epoch=int(epoch_text) if epoch_text is not None else None,
        cache_dir=cache_dir,
        settings=settings,
        platform=platform,
        use_cache=not no_cache,
        registry=registry_settings(registry_flags, settings),
        debug=ctx.obj["debug"],
    )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    kept = f" on {result.base_layers} base layer(s)" if result.base_layers else ""
    click.echo(
        f"{result.output}: {result.squashed_layers} layer(s) squashed into one{kept}, "
        f"{result.entries} entries, {result.layer_size} bytes compressed"
    )
    click.echo(result.manifest_digest)
