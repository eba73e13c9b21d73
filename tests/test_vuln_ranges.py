"""OSV range evaluation and the matcher's edge cases, on small records built in code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hullscan.model import Inventory, OSInfo, Package
from hullscan.vuln.matcher import match_inventory, os_ecosystems
from hullscan.vuln.ranges import evaluate
from hullscan.vulndb import open_db
from hullscan.vulndb.build import import_paths


@pytest.mark.parametrize(
    ("version", "events", "fixed"),
    [
        ("1.0~rc1", [("introduced", "0"), ("fixed", "1.0")], "1.0"),  # ~ sorts before
        ("1.0", [("introduced", "0"), ("fixed", "1.0")], None),  # the fixed version is not affected
        ("1:0.9", [("introduced", "0"), ("fixed", "2.0")], None),  # the epoch wins
        ("1.5", [("introduced", "1.0"), ("last_affected", "1.5")], ""),
        ("1.6", [("introduced", "1.0"), ("last_affected", "1.5")], None),
        ("0.9", [("introduced", "1.0"), ("fixed", "2.0")], None),
        (
            "2.5",
            [("introduced", "0"), ("fixed", "1.2"), ("introduced", "2.0"), ("fixed", "3.0")],
            "3.0",
        ),
        (
            "1.5",
            [("introduced", "0"), ("fixed", "1.2"), ("introduced", "2.0"), ("fixed", "3.0")],
            None,
        ),
        ("2.5", [("introduced", "0"), ("limit", "2.0")], None),
    ],
)
def test_debian_ranges(version: str, events: list[tuple[str, str]], fixed: str | None) -> None:
    hit = evaluate("Debian", version, events)
    assert (hit.fixed if hit else None) == fixed


def test_os_ecosystems() -> None:
    assert os_ecosystems(OSInfo("debian", "12")) == ("Debian:12",)
    assert os_ecosystems(OSInfo("alpine", "3.19.1")) == ("Alpine:v3.19",)
    assert os_ecosystems(OSInfo("ubuntu", "22.04")) == ("Ubuntu:22.04", "Ubuntu:22.04:LTS")
    assert os_ecosystems(OSInfo("debian", "")) == ()  # sid/testing: no release data


def record(
    id_: str, ecosystem: str, name: str, events: list[dict[str, str]], **extra: Any
) -> dict[str, Any]:
    return {
        "schema_version": "1.6.0",
        "id": id_,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                **extra.pop("affected_extra", {}),
            }
        ],
        **extra,
    }


def build_db(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    src = tmp_path / "osv"
    src.mkdir()
    for r in records:
        (src / f"{r['id']}.json").write_text(json.dumps(r))
    db = tmp_path / "osv.sqlite"
    import_paths([src], db)
    return db


def deb(name: str, version: str, source: str = "") -> Package:
    return Package(
        name,
        version,
        "deb",
        f"pkg:deb/debian/{name}@{version}",
        source_name=source or name,
        source_version=version,
    )


def inv(*packages: Package, os_info: OSInfo | None = None) -> Inventory:
    from hullscan.model import ImageMeta

    return Inventory(ImageMeta("x", "dir", None, None), os_info or OSInfo("debian", "12"), packages)


def test_release_source_package_alias_merge_and_not_affected(tmp_path: Path) -> None:
    fix = [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]
    db = build_db(
        tmp_path,
        [
            record("DEBCL-CVE-2024-0727", "Debian:12", "openssl", fix, aliases=["CVE-2024-0727"]),
            # the same CVE from another source: merged into one finding
            record("DSA-5621-1", "Debian:12", "openssl", fix, aliases=["CVE-2024-0727"]),
            # Debian 11's data must never fire on Debian 12
            record(
                "DEBCL-CVE-2099-0001",
                "Debian:11",
                "openssl",
                [{"introduced": "0"}, {"fixed": "9.0"}],
                aliases=["CVE-2099-0001"],
            ),
            # a withdrawn advisory is ignored
            record(
                "DEBCL-CVE-2099-0002",
                "Debian:12",
                "openssl",
                [{"introduced": "0"}, {"fixed": "9.0"}],
                withdrawn="2024-02-01T00:00:00Z",
            ),
            # the tracker says this one does not affect bookworm's openssl
            record(
                "DSA-9999-1",
                "Debian:11",
                "openssl",
                [{"introduced": "0"}, {"fixed": "9.0"}],
                aliases=["CVE-2099-0003"],
                database_specific={"not_affected": [{"ecosystem": "Debian:12", "name": "openssl"}]},
            ),
            record(
                "DEBCL-CVE-2099-0003",
                "Debian:12",
                "openssl",
                [{"introduced": "0"}, {"fixed": "9.0"}],
                aliases=["CVE-2099-0003"],
            ),
        ],
    )
    packages = (deb("libssl3", "3.0.11-1~deb12u2", "openssl"), deb("openssl", "3.0.11-1~deb12u2"))
    with open_db(db) as vdb:
        result = match_inventory(inv(*packages), vdb)
    got = sorted(
        (f.package.name, f.id, f.fixed_version, f.aliases) for f in result.findings if f.package
    )
    assert got == [
        ("libssl3", "CVE-2024-0727", "3.0.13-1~deb12u1", ("DEBCL-CVE-2024-0727", "DSA-5621-1")),
        ("openssl", "CVE-2024-0727", "3.0.13-1~deb12u1", ("DEBCL-CVE-2024-0727", "DSA-5621-1")),
    ]
    assert {(f.id, f.status) for f in result.not_affected} == {("CVE-2099-0003", "not_affected")}


def test_language_packages_versions_lists_and_owned(tmp_path: Path) -> None:
    db = build_db(
        tmp_path,
        [
            record(
                "PYSEC-1",
                "PyPI",
                "django",
                [{"introduced": "3.2"}, {"fixed": "3.2.4"}],
                aliases=["CVE-2021-33203"],
                severity=[
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}
                ],
            ),
            # listed by explicit versions only, with a fix in a range elsewhere
            {
                "schema_version": "1.6.0",
                "id": "PYSEC-2",
                "modified": "2024-01-01T00:00:00Z",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "Django"},
                        "versions": ["3.2"],
                        "ranges": [],
                    }
                ],
            },
            record(
                "GHSA-xxxx-yyyy-zzzz",
                "npm",
                "@babel/traverse",
                [{"introduced": "0"}, {"fixed": "7.23.2"}],
                aliases=["CVE-2023-45133"],
            ),
        ],
    )
    django = Package("Django", "3.2", "pypi", "pkg:pypi/django@3.2")
    owned = Package("Django", "3.2", "pypi", "pkg:pypi/django@3.2", owner="python3-django")
    babel = Package("@babel/traverse", "7.22.0", "npm", "pkg:npm/%40babel/traverse@7.22.0")
    with open_db(db) as vdb:
        result = match_inventory(inv(django, owned, babel), vdb)
    got = {
        (f.package.name, f.package.owner, f.id, f.fixed_version, f.severity.name)
        for f in result.findings
        if f.package
    }
    assert got == {
        ("Django", "", "CVE-2021-33203", "3.2.4", "HIGH"),
        ("Django", "", "PYSEC-2", "", "UNKNOWN"),
        ("@babel/traverse", "", "CVE-2023-45133", "7.23.2", "UNKNOWN"),
    }
    rated = next(f for f in result.findings if f.id == "CVE-2021-33203")
    assert rated.cvss is not None and rated.cvss.score == 7.5
    assert rated.severity_source == "CVSS_V3"


# -- a property: evaluate() against a brute-force walk of the version line -------------------

_VERSIONS = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4)),
    min_size=1,
    max_size=12,
    unique=True,
).map(sorted)
_KINDS = st.sampled_from(["introduced", "fixed", "last_affected"])


def _text(v: tuple[int, int, int]) -> str:
    return ".".join(map(str, v))


def _walk(
    universe: list[tuple[int, int, int]], events: list[tuple[str, object]], v: tuple[int, int, int]
) -> bool:
    """Walk the version line from below its lowest point up to ``v``: "0" introduces
    before everything; at each point an introduction, then a fix, take effect; a
    last_affected point ends the range just after it."""
    state = any(kind == "introduced" and at == "0" for kind, at in events)
    for u in universe:
        if u > v:
            break
        here = {kind for kind, at in events if at == u}
        if "introduced" in here:
            state = True
        if "fixed" in here:
            state = False
        if "last_affected" in here and u < v:
            state = False
    return state


@settings(max_examples=500, deadline=None)
@given(_VERSIONS, st.data())
def test_evaluate_agrees_with_a_walk_of_every_version(
    universe: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    points = st.sampled_from(universe)
    events: list[tuple[str, object]] = data.draw(
        st.lists(st.tuples(_KINDS, points) | st.just(("introduced", "0")), min_size=1, max_size=6)
    )
    as_text = [(kind, at if at == "0" else _text(at)) for kind, at in events]  # type: ignore[arg-type]
    for v in universe:
        got = evaluate("PyPI", _text(v), as_text)
        assert (got is not None) == _walk(universe, events, v), (v, as_text)
        if got is not None:
            fixes = sorted(at for kind, at in events if kind == "fixed" and at != "0" and at > v)  # type: ignore[operator]
            assert got.fixed == (_text(fixes[0]) if fixes else "")  # type: ignore[arg-type]
