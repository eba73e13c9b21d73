"""Fuzz apk's installed database."""

from __future__ import annotations

from contract import instrumented, main

with instrumented():
    from hullscan.inventory.apk import ApkAnalyzer

    from analyzers import harness

test_one_input = harness(ApkAnalyzer(), ["lib/apk/db/installed"])

if __name__ == "__main__":
    main(test_one_input)
