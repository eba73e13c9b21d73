"""``hullscan.yaml`` / ``.hullscan.yaml``: settings a team keeps beside its code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hullscan.errors import HullscanError

CONFIG_FILES = ("hullscan.yaml", ".hullscan.yaml")


def read_yaml(path: Path) -> Any:
    """A YAML document from a user's file; unreadable or invalid is one clear error."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise HullscanError(f"{path}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise HullscanError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The given file, else the first of ``CONFIG_FILES`` in the working directory, else {}."""
    if path is None:
        path = next((Path(p) for p in CONFIG_FILES if Path(p).is_file()), None)
        if path is None:
            return {}
    doc = read_yaml(path)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise HullscanError(f"{path}: expected a mapping of settings")
    return doc
