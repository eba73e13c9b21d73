"""``python -m hullscan``."""

from hullscan.cli import run

run()
