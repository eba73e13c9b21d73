"""``secret``: secrets and sensitive files in every layer (or the final filesystem), and
in the image config and history."""

from __future__ import annotations

from hullscan.analyzer import Analyzer
from hullscan.pipeline import AnalyzedImage
from hullscan.scanners import ScanContext, Scanner, ScannerResult


class SecretScanner(Scanner):
    name = "secret"

    def __init__(self, ctx: ScanContext) -> None:
        from hullscan.secrets import secret_analyzers

        super().__init__(ctx)
        self.engine, self._analyzers = secret_analyzers(ctx.settings.secrets)

    def analyzers(self) -> list[Analyzer]:
        return self._analyzers

    def scan(self, analyzed: AnalyzedImage) -> ScannerResult:
        from hullscan.secrets.scanner import config_findings, layer_findings

        return ScannerResult(
            findings=[
                *layer_findings(analyzed, self.engine, final_only=self.ctx.layers == "final"),
                *config_findings(analyzed, self.engine),
            ]
        )
