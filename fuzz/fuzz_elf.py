"""Fuzz ELF binaries: hardening (RELRO, canary, NX, PIE, FORTIFY, RPATH) and the binary
classifiers' version banners, the two analyzers that read every executable."""

from __future__ import annotations

from contract import instrumented, main

with instrumented():
    from hullscan.binaries.classify import BinaryClassifierAnalyzer
    from hullscan.binaries.hardening import HardeningAnalyzer

    from analyzers import run_analyzer

HARDENING = HardeningAnalyzer()
CLASSIFIER = BinaryClassifierAnalyzer()


def test_one_input(data: bytes) -> None:
    run_analyzer(HARDENING, "usr/lib/x86_64-linux-gnu/libfuzz.so.1", data)
    run_analyzer(CLASSIFIER, "usr/bin/python3.11", data)


if __name__ == "__main__":
    main(test_one_input)
