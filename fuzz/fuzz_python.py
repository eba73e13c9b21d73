"""Fuzz Python distribution metadata: METADATA and PKG-INFO (first byte: which)."""

from __future__ import annotations

from contract import instrumented, main

with instrumented():
    from hullscan.inventory.python import PythonDistAnalyzer

    from analyzers import harness

SITE = "usr/lib/python3/dist-packages"
test_one_input = harness(
    PythonDistAnalyzer(), [f"{SITE}/x-1.0.dist-info/METADATA", f"{SITE}/x-1.0.egg-info/PKG-INFO"]
)

if __name__ == "__main__":
    main(test_one_input)
