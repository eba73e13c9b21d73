"""Fuzz PE binaries: hardening (ASLR, DEP, CFG, SafeSEH) and the version resource."""

from __future__ import annotations

from contract import instrumented, main

with instrumented():
    from hullscan.binaries.hardening import HardeningAnalyzer
    from hullscan.binaries.pe_version import PEVersionAnalyzer

    from analyzers import run_analyzer

HARDENING = HardeningAnalyzer()
VERSION = PEVersionAnalyzer()


def test_one_input(data: bytes) -> None:
    run_analyzer(HARDENING, "app/tool.exe", data)
    run_analyzer(VERSION, "app/tool.dll", data)


if __name__ == "__main__":
    main(test_one_input)
