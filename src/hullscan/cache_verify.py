"""``hullscan cache verify``: find the damaged entries of a cache directory and drop them.

A scan never serves a damaged entry (layer analyses that do not decode are misses, blobs
are re-hashed as they are read), but it fails on a blob that no longer matches its digest
until the blob is gone; this check re-reads everything once and drops what is damaged,
so the next scan computes or downloads it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hullscan.cache import LayerCache


@dataclass
class CacheCheck:
    layers_checked: int = 0
    inventories_checked: int = 0
    blobs_checked: int = 0
    #: what was dropped: layer-cache keys and blob-cache paths
    dropped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.layers_checked} layer analyses, {self.inventories_checked} inventories "
            f"and {self.blobs_checked} blobs checked; "
            + (
                f"{len(self.dropped)} damaged entries dropped"
                if self.dropped
                else "nothing damaged"
            )
        )


def verify_cache(cache_dir: Path) -> CacheCheck:
    from hullscan.sources.registry import BlobCache  # the HTTP stack only when asked

    out = CacheCheck()
    if (cache_dir / "layers.sqlite").exists():
        cache = LayerCache(cache_dir)
        try:
            out.layers_checked, out.inventories_checked, dropped = cache.verify()
        finally:
            cache.close()
        out.dropped += dropped
    registry = cache_dir / "registry"
    if registry.is_dir():
        out.blobs_checked, dropped = BlobCache(registry).verify()
        out.dropped += dropped
    return out
