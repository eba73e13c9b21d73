"""Where the cache lives: the cache directory and the vulnerability database in it.

Apart from ``cache.py`` (which opens the layer cache) so that the command line can show
these defaults in ``--help`` without importing the layer walker behind the cache.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    if env := os.environ.get("HULLSCAN_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hullscan"


def database_path(cache_dir: Path | None = None) -> Path:
    """Where the vulnerability database lives: ``<cache dir>/db/osv.sqlite``."""
    return (cache_dir or default_cache_dir()) / "db" / "osv.sqlite"
