"""Fuzz dpkg's status database and a distroless status.d/ entry (first byte: which)."""

from __future__ import annotations

from contract import instrumented, main

with instrumented():
    from hullscan.inventory.dpkg import DpkgAnalyzer

    from analyzers import harness

test_one_input = harness(DpkgAnalyzer(), ["var/lib/dpkg/status.d/base", "var/lib/dpkg/status"])

if __name__ == "__main__":
    main(test_one_input)
