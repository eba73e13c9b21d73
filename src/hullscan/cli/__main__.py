"""``python -m hullscan.cli``."""

from hullscan.cli import run

run()
