"""Fuzz cargo-auditable's .dep-v0 section in ELF files."""

from __future__ import annotations

from contract import instrumented, main

with instrumented():
    from hullscan.inventory.rust import CargoAuditableAnalyzer

    from analyzers import harness

test_one_input = harness(CargoAuditableAnalyzer(), ["usr/local/bin/app"])

if __name__ == "__main__":
    main(test_one_input)
