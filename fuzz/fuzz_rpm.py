"""Fuzz rpm databases: SQLite, Berkeley DB and ndb (first byte: which)."""

from __future__ import annotations

from contract import instrumented, main

with instrumented():
    from hullscan.inventory.rpm import RpmAnalyzer

    from analyzers import harness

test_one_input = harness(
    RpmAnalyzer(), ["var/lib/rpm/rpmdb.sqlite", "var/lib/rpm/Packages", "var/lib/rpm/Packages.db"]
)

if __name__ == "__main__":
    main(test_one_input)
