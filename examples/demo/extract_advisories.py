"""Copy the real OSV records that concern the demo image's packages out of
../shared/vulndata into examples/demo/advisories.zip, laid out like OSV's all.zip exports,
and the entries of ../shared/kev's CISA KEV catalog that name their CVEs into
examples/demo/known_exploited_vulnerabilities.json (run once; the output is committed).

Usage: python examples/demo/extract_advisories.py ../shared/vulndata
"""

from __future__ import annotations

import json
import re
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETS = {"Debian-12": "Debian:12", "PyPI": "PyPI", "npm": "npm", "RubyGems": "RubyGems"}
KEV = "known_exploited_vulnerabilities.json"


def wanted() -> dict[str, set[str]]:
    status = (HERE / "dpkg-status").read_text()
    sources = set()
    for para in status.split("\n\n"):
        name = re.search(r"^Package: (\S+)", para, re.M)
        src = re.search(r"^Source: (\S+)", para, re.M)
        if name:
            sources.add(src.group(1) if src else name.group(1))
    sys.path.insert(0, str(HERE.parent))
    from build_demo import NODE_APP, PYTHON_APP, RUBY_APP

    return {
        "Debian:12": sources,
        "PyPI": {re.sub(r"[-_.]+", "-", n).lower() for n in PYTHON_APP},
        "npm": set(NODE_APP),
        "RubyGems": set(RUBY_APP),
    }


def main() -> None:
    root = Path(sys.argv[1])
    want = wanted()
    out = HERE / "advisories.zip"
    ids: set[str] = set()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dest:
        count = _copy(root, want, dest, ids)
    print(f"{count} advisories written to {out}")
    catalog = json.loads((root.parent / "kev" / KEV).read_text())
    catalog["vulnerabilities"] = [v for v in catalog["vulnerabilities"] if v["cveID"] in ids]
    catalog["count"] = len(catalog["vulnerabilities"])
    (HERE / KEV).write_text(json.dumps(catalog, indent=2) + "\n")
    print(f"{catalog['count']} KEV entries written to {HERE / KEV}")


def _copy(root: Path, want: dict[str, set[str]], dest: zipfile.ZipFile, ids: set[str]) -> int:
    count = 0
    for folder, ecosystem in SETS.items():
        with zipfile.ZipFile(root / folder / "all.zip") as z:
            for name in z.namelist():
                record = json.loads(z.read(name))
                names = {
                    re.sub(r"[-_.]+", "-", a["package"]["name"]).lower()
                    if ecosystem == "PyPI"
                    else a["package"]["name"]
                    for a in record.get("affected", [])
                    if a.get("package", {}).get("ecosystem") == ecosystem
                }
                if names & want[ecosystem]:
                    dest.writestr(name, z.read(name))
                    ids.update(
                        [record["id"], *record.get("aliases", []), *record.get("upstream", [])]
                    )
                    count += 1
    return count


if __name__ == "__main__":
    main()
