"""``config``: build practices of the built image (Dockle-style), no Dockerfile needed."""

from __future__ import annotations

from hullscan.analyzer import Analyzer
from hullscan.pipeline import AnalyzedImage
from hullscan.scanners import Scanner, ScannerResult


class ConfigScanner(Scanner):
    name = "config"
    needs_packages = True

    def analyzers(self) -> list[Analyzer]:
        from hullscan.checks.accounts import AccountsAnalyzer

        return [AccountsAnalyzer()]

    def scan(self, analyzed: AnalyzedImage) -> ScannerResult:
        from hullscan.checks.image import check_image

        # the supply chain scanner owns pinning and trusted sources of the image itself
        findings, summary = check_image(
            analyzed,
            self.ctx.settings.checks,
            self.ctx.ref,
            source_checks="supplychain" not in self.ctx.selected,
        )
        return ScannerResult(findings=findings, summary={"image": summary})
