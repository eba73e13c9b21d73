"""``license``: each package's licences judged by the licence policy (``licenses:`` in
hullscan.yaml), and licence files found loose in application folders."""

from __future__ import annotations

from hullscan.analyzer import Analyzer
from hullscan.pipeline import AnalyzedImage
from hullscan.scanners import Scanner, ScannerResult


class LicenseScanner(Scanner):
    name = "license"
    needs_packages = True

    def analyzers(self) -> list[Analyzer]:
        from hullscan.licenses.scanner import LicenseFileAnalyzer

        return [LicenseFileAnalyzer()] if self.ctx.settings.licenses.files else []

    def scan(self, analyzed: AnalyzedImage) -> ScannerResult:
        from hullscan.licenses.scanner import license_findings

        return ScannerResult(findings=license_findings(analyzed, self.ctx.settings.licenses))
