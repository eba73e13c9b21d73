"""``binary``: hardening of the executables that ship, and end-of-life runtimes inside
binaries."""

from __future__ import annotations

from hullscan.analyzer import Analyzer
from hullscan.pipeline import AnalyzedImage
from hullscan.scanners import Scanner, ScannerResult


class BinaryScanner(Scanner):
    name = "binary"
    needs_packages = True

    def analyzers(self) -> list[Analyzer]:
        from hullscan.binaries.hardening import HardeningAnalyzer

        return [HardeningAnalyzer()]

    def scan(self, analyzed: AnalyzedImage) -> ScannerResult:
        from hullscan.binaries.scanner import eol_findings, hardening_findings

        # the config scanner owns setuid/setgid files when it runs too
        hardening, summary = hardening_findings(
            analyzed, setuid_checks="config" not in self.ctx.selected
        )
        findings = self.ctx.settings.checks.apply(hardening + eol_findings(analyzed))
        return ScannerResult(findings=findings, summary={"binaries": summary})
