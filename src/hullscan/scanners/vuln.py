"""``vuln``: known vulnerabilities of the inventory, from the local OSV database."""

from __future__ import annotations

from hullscan.cache import database_path
from hullscan.pipeline import AnalyzedImage
from hullscan.scanners import ScanContext, Scanner, ScannerResult


class VulnScanner(Scanner):
    name = "vuln"
    needs_packages = True
    needs_files = False

    def __init__(self, ctx: ScanContext) -> None:
        from hullscan.vulndb import age_warning, open_db

        super().__init__(ctx)
        # opened before the image is read: a missing database fails fast
        self.db = open_db(ctx.db_path or database_path(ctx.options.cache_dir))
        self.warnings = [w for w in [age_warning(self.db, ctx.max_db_age_days)] if w]

    def scan(self, analyzed: AnalyzedImage) -> ScannerResult:
        from hullscan.vuln.matcher import match_inventory

        matched = match_inventory(analyzed.inventory, self.db)
        return ScannerResult(
            findings=matched.findings,
            not_affected=matched.not_affected,
            warnings=self.warnings + matched.warnings,
        )

    def close(self) -> None:
        self.db.close()
