"""The public Python API: ``hullscan.scan``, ``hullscan.sbom`` and ``hullscan.verify``.

The CLI, the server and the workers call these and nothing below them. They never
prompt, print or read the working directory's settings on their own: everything comes
in as arguments (``Settings`` for what ``hullscan.yaml`` would say), every failure is a
``hullscan.HullscanError`` subclass, and no state is shared between calls except the
on-disk caches, which are safe for concurrent use — so many threads may scan at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hullscan.model import ScanReport
from hullscan.pipeline import ProgressHook, ScanOptions, analyze_image
from hullscan.policy import Policy
from hullscan.scanners import DEFAULT_SCANNERS
from hullscan.settings import Settings
from hullscan.sources.interface import Platform
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.supplychain.trust import TrustPolicy
from hullscan.supplychain.verify import VerifyReport, verify_image

if TYPE_CHECKING:
    from hullscan.squash import SquashResult


def scan_options(
    cache_dir: Path | str | None = None,
    *,
    use_cache: bool = True,
    platform: Platform | str | None = None,
    registry: RegistrySettings | None = None,
    debug: bool = False,
    settings: Settings | None = None,
) -> ScanOptions:
    """How images are read: the cache directory (default ``~/.cache/hullscan``), the
    platform of a multi-platform image, and registry access (default: the settings')."""
    if isinstance(platform, str):
        platform = Platform.parse(platform)
    options = ScanOptions(
        use_cache=use_cache,
        platform=platform,
        debug=debug,
        registry=registry or (settings or Settings()).registries,
    )
    if cache_dir is not None:
        options.cache_dir = Path(cache_dir)
    return options


def scan(
    ref: str,
    scanners: Sequence[str] = DEFAULT_SCANNERS,
    *,
    cache_dir: Path | str | None = None,
    db: Path | str | None = None,
    settings: Settings | None = None,
    policy: Policy | None = None,
    platform: Platform | str | None = None,
    use_cache: bool = True,
    layers: Literal["all", "final"] = "all",
    max_db_age_days: int = 7,
    trust_policy: TrustPolicy | None = None,
    registry: RegistrySettings | None = None,
    progress: ProgressHook | None = None,
    debug: bool = False,
) -> ScanReport:
    """Scan the image ``ref`` (any image reference hullscan reads) with ``scanners``.

    ``db``: the vulnerability database (default ``<cache_dir>/db/osv.sqlite``).
    ``policy``: severities, ignore rules and VEX (default: report everything).
    ``report.to_dict()`` is the ``hullscan.report/v1`` document of ``--format json``;
    ``report.exceeds(Severity.HIGH)`` is the ``--fail-on`` decision. ``debug`` lets an
    analyzer's internal error propagate instead of becoming a warning.
    """
    from hullscan.scanners.run import ScanRequest, run_scan

    settings = settings or Settings()
    options = scan_options(
        cache_dir,
        use_cache=use_cache,
        platform=platform,
        registry=registry,
        debug=debug,
        settings=settings,
    )
    request = ScanRequest(
        ref,
        tuple(scanners),
        Path(db) if db is not None else None,
        max_db_age_days,
        layers,
        settings,
        trust_policy,
    )
    report, _ = run_scan(request, options, policy or Policy(), progress)
    return report


def sbom(
    ref: str,
    *,
    cache_dir: Path | str | None = None,
    settings: Settings | None = None,
    platform: Platform | str | None = None,
    use_cache: bool = True,
    registry: RegistrySettings | None = None,
    progress: ProgressHook | None = None,
    debug: bool = False,
) -> ScanReport:
    """Inventory the image ``ref``: ``report.inventory`` holds the image, its OS and every
    package; ``report.to_dict()`` is ``hullscan sbom --format json``'s document."""
    options = scan_options(
        cache_dir,
        use_cache=use_cache,
        platform=platform,
        registry=registry,
        debug=debug,
        settings=settings,
    )
    return ScanReport(analyze_image(ref, options, progress, files=False).inventory)


def verify(
    ref: str,
    keys: Sequence[Path | str] = (),
    *,
    digest: str | None = None,
    trust_policy: TrustPolicy | None = None,
    identity: str | None = None,
    check_identity: bool = True,
    platform: Platform | str | None = None,
    settings: Settings | None = None,
    registry: RegistrySettings | None = None,
) -> VerifyReport:
    """Check the signatures of ``ref`` (a registry image or an OCI layout) with public
    ``keys``, its content against a released ``digest``, and/or its source against a
    ``trust_policy``. ``report.verified`` is the verdict, ``report.problems`` says why not."""
    if isinstance(platform, str):
        platform = Platform.parse(platform)
    return verify_image(
        ref,
        [Path(k) for k in keys],
        digest=digest,
        trust_policy=trust_policy,
        identity=identity,
        check_identity=check_identity,
        platform=platform,
        registry=registry or (settings or Settings()).registries,
    )


def squash(
    ref: str,
    output: str | None,
    *,
    push: str | None = None,
    keep_base: int | str | None = None,
    source_date_epoch: int | None = None,
    cache_dir: Path | str | None = None,
    settings: Settings | None = None,
    platform: Platform | str | None = None,
    use_cache: bool = True,
    registry: RegistrySettings | None = None,
    progress: ProgressHook | None = None,
    debug: bool = False,
) -> SquashResult:
    """Write the image ``ref`` as one layer holding its final filesystem, to ``output``
    (``oci:DIR[:TAG]``, ``oci-archive:PATH[:TAG]``, ``docker-archive:PATH[:TAG]``) and/or
    ``push`` (``registry:HOST/REPO:TAG``). ``keep_base``: bottom layers kept as they are
    (a count, or a base image reference). Timestamps are clamped to ``source_date_epoch``
    (default: the newest in the image), so the same image gives the same digest."""
    from hullscan.squash import squash as squash_image

    options = scan_options(
        cache_dir,
        use_cache=use_cache,
        platform=platform,
        registry=registry,
        debug=debug,
        settings=settings,
    )
    return squash_image(
        ref,
        output,
        options,
        keep_base=keep_base,
        source_date_epoch=source_date_epoch,
        progress=progress,
        push=push,
    )


__all__ = ["SquashResult", "VerifyReport", "sbom", "scan", "scan_options", "squash", "verify"]
