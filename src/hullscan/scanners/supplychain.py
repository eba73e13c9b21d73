"""``supplychain``: is the image the one you think it is (trust policy, signatures,
pinning, tags that moved)? Reads the manifest and config only."""

from __future__ import annotations

from hullscan.pipeline import AnalyzedImage
from hullscan.scanners import ScanContext, Scanner, ScannerResult


class SupplyChainScanner(Scanner):
    name = "supplychain"
    needs_layers = False

    def __init__(self, ctx: ScanContext) -> None:
        super().__init__(ctx)
        self.trust = ctx.trust_policy or ctx.settings.trust

    def scan(self, analyzed: AnalyzedImage) -> ScannerResult:
        from hullscan.supplychain.scanner import SupplyChainSettings, supplychain_findings

        options = self.ctx.options
        findings, summary = supplychain_findings(
            analyzed,
            self.ctx.ref,
            SupplyChainSettings(self.trust, options.registry, options.cache_dir, options.limits),
        )
        return ScannerResult(
            findings=self.ctx.settings.checks.apply(findings), summary={"supplychain": summary}
        )
