"""Fuzz an installed package.json inside a node_modules tree."""

from __future__ import annotations

from contract import instrumented, main

with instrumented():
    from hullscan.inventory.node import NodePackageAnalyzer

    from analyzers import harness

test_one_input = harness(NodePackageAnalyzer(), ["app/node_modules/@scope/pkg/package.json"])

if __name__ == "__main__":
    main(test_one_input)
