"""Fuzz Java archives: jar, war and ear, with archives nested inside them."""

from __future__ import annotations

from contract import instrumented, main

with instrumented():
    from hullscan.inventory.java import JavaArchiveAnalyzer

    from analyzers import harness

#: nested archives are inflated (within the analyzer's own budget): more output per byte
test_one_input = harness(JavaArchiveAnalyzer(), ["opt/app/lib/app.jar", "srv/app.war"], ratio=1000)

if __name__ == "__main__":
    main(test_one_input)
