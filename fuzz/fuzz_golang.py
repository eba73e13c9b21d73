"""Fuzz the build info in Go binaries."""

from __future__ import annotations

from contract import instrumented, main

with instrumented():
    from hullscan.inventory.golang import GoBinaryAnalyzer

    from analyzers import harness

test_one_input = harness(GoBinaryAnalyzer(), ["usr/local/bin/app"])

if __name__ == "__main__":
    main(test_one_input)
