"""hullscan: offline container-image security scanning."""

__version__ = "0.1.0"
