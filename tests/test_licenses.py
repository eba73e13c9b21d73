"""Licences: normalization to SPDX, Debian copyright files, every ecosystem's declaration
in a built image, the licence policy and the ``license`` scanner."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hullscan.cli import main
from hullscan.errors import ConfigError
from hullscan.inventory.dpkg_copyright import parse_copyright
from hullscan.licenses.caches import CachedSourceLicenseAnalyzer
from hullscan.licenses.policy import LicensePolicy
from hullscan.licenses.spdx import spdx_license_expression, to_spdx
from hullscan.model import FileInfo, FileType, Severity
from hullscan.pipeline import ScanOptions, inventory
from hullscan.settings import Settings

from imagebuilder import build, debian_base, file, symlink, write_docker_archive

MIT_TEXT = """Copyright (c) 2013 Example Authors

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of
the Software, and to permit persons to whom the Software is furnished to do so,
subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS
FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: util-linux
Source: https://www.kernel.org/pub/linux/utils/util-linux/

Files: *
Copyright: 2008-2012 Karel Zak <kzak@redhat.com>
License: GPL-2+

Files: lib/md5.c
Copyright: no copyright
License: public-domain
 The algorithm is due to Ron Rivest.

Files: libblkid/* libuuid/*
Copyright: 2008 Theodore Ts'o
License: LGPL-2.1+ or BSD-3-clause

Files: debian/*
Copyright: 2009 LaMont Jones
License: GPL-2 with Autoconf exception

License: GPL-2+
 This program is free software; you can redistribute it and/or modify
 it under the terms of the GNU General Public License as published by
 the Free Software Foundation; either version 2 of the License, or
 (at your option) any later version.

License: Unlisted-Standalone
 A stand-alone licence paragraph names no files: it is not a licence of the package.
"""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("MIT", "MIT"),
        ("mit or apache-2.0", "MIT OR Apache-2.0"),
        ("GPL-2+", "GPL-2.0-or-later"),  # Debian's short names
        ("LGPL-2.1+ or BSD-3-clause", "LGPL-2.1-or-later OR BSD-3-Clause"),
        ("Artistic or GPL-1+", "Artistic-1.0-Perl OR GPL-1.0-or-later"),
        ("GFDL-NIV-1.3+", "GFDL-1.3-no-invariants-or-later"),
        ("GPL-2+ with Autoconf exception", "GPL-2.0-or-later WITH Autoconf-exception-2.0"),
        ("GPL-3+ with Bison exception", "GPL-3.0-or-later WITH Bison-exception-2.2"),
        ("GPL-2+ with OpenSSL exception", "LicenseRef-GPL-2-with-OpenSSL-exception"),  # not SPDX
        ("Apache-2.0 or MIT, and BSD-3-clause", "(Apache-2.0 OR MIT) AND BSD-3-Clause"),
        ("Expat", "MIT"),
        ("Apache 2.0", "Apache-2.0"),  # names people write
        ("GNU General Public License v2 or later (GPLv2+)", "GPL-2.0-or-later"),
        ("GPL v2 or later", "GPL-2.0-or-later"),
        ("GPL-2.0+", "GPL-2.0-or-later"),  # deprecated SPDX ids
        ("BSD License", "LicenseRef-BSD-License"),  # too vague: kept, unknown
        ("public-domain and LGPL-2.1+", "LicenseRef-public-domain AND LGPL-2.1-or-later"),
        ("LicenseRef-Proprietary", "LicenseRef-Proprietary"),
    ],
)
def test_declared_strings_become_spdx_expressions(value: str, expected: str) -> None:
    assert to_spdx(value) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_string_gives_a_valid_spdx_expression(value: str) -> None:
    expr = to_spdx(value)
    assert spdx_license_expression(expr) == expr


def test_dep5_gives_the_licence_of_every_files_paragraph() -> None:
    licenses, warnings = parse_copyright(DEP5.encode(), "usr/share/doc/bsdutils/copyright")
    assert warnings == []
    assert [(x.value, x.expression) for x in licenses] == [
        ("GPL-2+", "GPL-2.0-or-later"),
        ("public-domain", "LicenseRef-public-domain"),
        ("LGPL-2.1+ or BSD-3-clause", "LGPL-2.1-or-later OR BSD-3-Clause"),
        ("GPL-2 with Autoconf exception", "GPL-2.0-only WITH Autoconf-exception-2.0"),
    ]
    assert {(x.source, x.path) for x in licenses} == {
        ("dpkg-copyright", "usr/share/doc/bsdutils/copyright")
    }


def test_other_copyright_files_only_when_the_text_is_a_licence() -> None:
    licenses, _ = parse_copyright(MIT_TEXT.encode(), "usr/share/doc/x/copyright")
    assert [(x.expression, x.source) for x in licenses] == [("MIT", "dpkg-copyright:text")]
    prose = (
        "This package was debianized by someone.\nIt is licensed under the GPL, see "
        "/usr/share/common-licenses/GPL-2 on Debian systems.\n"
    )
    assert parse_copyright(prose.encode(), "usr/share/doc/x/copyright") == ([], [])


# --- every ecosystem, in a built image --------------------------------------------------


POM_WITH_LICENSES = """<?xml version="1.0"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <licenses>
    <license><name>The Apache Software License, Version 2.0</name>
      <url>https://www.apache.org/licenses/LICENSE-2.0.txt</url></license>
    <license><name>Eclipse Public License - v 2.0</name></license>
  </licenses></project>"""
#: a POM whose licences are inherited from a parent POM the archive does not hold
POM_WITHOUT = "<project><parent><artifactId>p</artifactId></parent></project>"


def _jar(artifact: str, version: str, pom_xml: str, licence_text: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
        base = f"META-INF/maven/org.example/{artifact}/"
        z.writestr(
            base + "pom.properties",
            f"groupId=org.example\nartifactId={artifact}\nversion={version}\n",
        )
        z.writestr(base + "pom.xml", pom_xml)
        if licence_text:
            z.writestr("META-INF/LICENSE.txt", licence_text)
    return buf.getvalue()


def _image(tmp_path: Path) -> Path:
    site = "app/venv/lib/python3.11/site-packages"
    layers = [
        [
            *debian_base(),
            file(
                "usr/share/doc/libssl3/copyright",
                "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
                "\nFiles: *\nCopyright: 1998-2023 The OpenSSL Project\nLicense: Apache-2.0\n",
            ),
            # bsdutils shares util-linux's documentation folder, as Debian allows
            file("usr/share/doc/util-linux/copyright", DEP5),
            symlink("usr/share/doc/bsdutils", "util-linux"),
        ],
        [
            file(
                "lib/apk/db/installed",
                "P:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT BSD-2-Clause\n"
                "o:musl\n\nP:busybox\nV:1.36.1-r15\nA:x86_64\nL:GPL-2.0-only\n\n",
            ),
            file(
                f"{site}/attrs-23.1.0.dist-info/METADATA",
                "Metadata-Version: 2.4\nName: attrs\nVersion: 23.1.0\nLicense-Expression: MIT\n\n",
            ),
            file(
                f"{site}/chardet-3.0.4.dist-info/METADATA",
                "Metadata-Version: 2.1\nName: chardet\nVersion: 3.0.4\nLicense: LGPL\n"
                "Classifier: License :: OSI Approved :: GNU Lesser General Public License "
                "v2 or later (LGPLv2+)\n\n",
            ),
            file(
                "app/node_modules/left-pad/package.json",
                json.dumps({"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}),
            ),
            file("app/lib/tool-1.0.jar", _jar("tool", "1.0", POM_WITH_LICENSES)),
            file("app/lib/plain-2.0.jar", _jar("plain", "2.0", POM_WITHOUT, MIT_TEXT)),
            file(
                "usr/local/bundle/specifications/rack-3.0.8.gemspec",
                'Gem::Specification.new do |s|\n  s.name = "rack".freeze\n'
                '  s.version = "3.0.8"\n  s.licenses = ["MIT".freeze]\nend\n',
            ),
            file(
                "srv/vendor/composer/installed.json",
                json.dumps(
                    {
                        "packages": [
                            {
                                "name": "monolog/monolog",
                                "version": "3.4.0",
                                "license": ["MIT", "GPL-2.0-or-later"],
                            }
                        ]
                    }
                ),
            ),
            file("app/LICENSE", MIT_TEXT),
            file(
                "app/Api.deps.json",
                json.dumps(
                    {
                        "runtimeTarget": {"name": ".NETCoreApp,Version=v8.0"},
                        "libraries": {"Newtonsoft.Json/13.0.3": {"type": "package"}},
                    }
                ),
            ),
            file(
                "root/.nuget/packages/newtonsoft.json/13.0.3/newtonsoft.json.nuspec",
                '<?xml version="1.0"?><package xmlns="http://schemas.microsoft.com/packaging/'
                '2013/05/nuspec.xsd"><metadata><id>Newtonsoft.Json</id>'
                '<version>13.0.3</version><license type="expression">MIT</license>'
                "</metadata></package>",
            ),
        ],
    ]
    return write_docker_archive([(build(layers), ["app:1"])], tmp_path / "app.tar")


def test_every_ecosystem_records_its_licences(tmp_path: Path) -> None:
    inv = inventory(str(_image(tmp_path)), ScanOptions(cache_dir=tmp_path / "cache"))
    got = {p.name: [(x.expression, x.source) for x in p.licenses] for p in inv.packages}
    assert got["libssl3"] == [("Apache-2.0", "dpkg-copyright")]
    # the symlinked documentation folder is followed
    assert got["bsdutils"][0] == ("GPL-2.0-or-later", "dpkg-copyright")
    assert got["python3-six"] == []  # no copyright file in the image
    assert got["musl"] == [("MIT", "apk:L"), ("BSD-2-Clause", "apk:L")]
    assert got["busybox"] == [("GPL-2.0-only", "apk:L")]
    assert got["attrs"] == [("MIT", "python:License-Expression")]
    # a vague License field gives way to a precise classifier
    assert got["chardet"] == [("LGPL-2.0-or-later", "python:classifier")]
    assert got["six"] == [("MIT", "python:License")]
    assert got["left-pad"] == [("WTFPL", "npm:license")]
    assert got["tool"] == [("Apache-2.0", "maven:pom.xml"), ("EPL-2.0", "maven:pom.xml")]
    assert got["plain"] == [("MIT", "java:license-file")]
    assert got["rack"] == [("MIT", "gemspec")]
    # composer: any one of the listed licences applies
    assert got["monolog/monolog"] == [("MIT OR GPL-2.0-or-later", "composer:license")]
    # deps.json names no licence: the NuGet cache's nuspec does
    assert got["Newtonsoft.Json"] == [("MIT", "nuget:nuspec")]
    paths = {p.name: {x.path for x in p.licenses} for p in inv.packages}
    assert paths["bsdutils"] == {"usr/share/doc/util-linux/copyright"}
    assert paths["tool"] == {"META-INF/maven/org.example/tool/pom.xml"}


def test_sbom_outputs_carry_licences(tmp_path: Path) -> None:
    tar = _image(tmp_path)
    out = tmp_path / "sbom.json"
    assert (
        main(
            [
                "sbom",
                str(tar),
                "-q",
                "--format",
                "json",
                "-o",
                str(out),
                "--cache-dir",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    [rack] = [p for p in json.loads(out.read_text())["packages"] if p["name"] == "rack"]
    assert rack["licenses"] == [
        {
            "expression": "MIT",
            "value": "MIT",
            "source": "gemspec",
            "path": "usr/local/bundle/specifications/rack-3.0.8.gemspec",
        }
    ]
    assert (
        main(
            [
                "sbom",
                str(tar),
                "-q",
                "--columns",
                "name,version,license",
                "-o",
                str(tmp_path / "t.txt"),
                "--cache-dir",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    table = (tmp_path / "t.txt").read_text()
    assert "LICENSE" in table.splitlines()[3]
    assert any(
        line.split() == ["monolog/monolog", "3.4.0", "MIT", "OR", "GPL-2.0-or-later"]
        for line in table.splitlines()
    )


@pytest.mark.parametrize(
    ("path", "data", "package", "license"),
    [
        (
            "root/go/pkg/mod/github.com/!burnt!sushi/toml@v1.3.2/COPYING",
            MIT_TEXT,
            ["golang", "github.com/BurntSushi/toml", "v1.3.2"],
            ("MIT", "go:module-cache:text"),
        ),
        (
            "root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/serde-1.0.188/Cargo.toml",
            '[package]\nname = "serde"\nversion = "1.0.188"\nlicense = "MIT OR Apache-2.0"\n',
            ["cargo", "serde", "1.0.188"],
            ("MIT OR Apache-2.0", "cargo:Cargo.toml"),
        ),
    ],
)
def test_cached_sources_state_go_and_rust_licences(
    path: str, data: str, package: list[str], license: tuple[str, str]
) -> None:
    analyzer = CachedSourceLicenseAnalyzer()
    info = FileInfo(path, FileType.REG, len(data))
    assert analyzer.required(path, info)
    result = analyzer.analyze(path, info, io.BytesIO(data.encode()))
    assert result is not None and result.facts["package"] == package
    assert [(x["expression"], x["source"]) for x in result.facts["licenses"]] == [license]
    # not a module's own folder, or not a licence file: not read
    parent, _, base = path.rpartition("/")
    assert not analyzer.required(f"{parent}/sub/{base}", info)
    assert not analyzer.required("root/go/pkg/mod/x.org/y@v1/README", info)


# --- the policy and the scanner --------------------------------------------------------


def test_policy_judges_expressions_by_severity() -> None:
    policy = LicensePolicy()
    assert policy.judge("GPL-2.0-or-later OR MIT").license_id == "MIT"  # the user picks
    verdict = policy.judge("MIT AND GPL-3.0-only")  # both apply
    assert (verdict.category, verdict.severity) == ("restricted", Severity.HIGH)
    assert policy.judge("AGPL-3.0-or-later").severity is Severity.CRITICAL
    assert policy.judge("LicenseRef-BSD-License").category == "unknown"
    custom = LicensePolicy.from_section(
        {"forbidden": ["GPL-2.0"], "severity": {"notice": "none", "unknown": "medium"}}
    )
    assert custom.judge("GPL-2.0-only").severity is Severity.CRITICAL
    assert custom.judge("MIT").severity is None
    assert custom.judge("LicenseRef-x").severity is Severity.MEDIUM


@pytest.mark.parametrize(
    "section",
    [
        {"forbiden": ["MIT"]},
        {"forbidden": "MIT"},
        {"severity": {"notice": "loud"}},
        {"severity": {"secret": "LOW"}},
        {"packages": {"bash": "fine"}},
        ["MIT"],
    ],
)
def test_bad_policies_are_one_clear_error(section: object) -> None:
    with pytest.raises(ConfigError, match=r"^hullscan.yaml: licenses"):
        Settings.from_mapping({"licenses": section})


def _scan(tmp_path: Path, config: str, *args: str) -> tuple[int, dict[str, object]]:
    cfg = tmp_path / "hullscan.yaml"
    cfg.write_text(config)
    out = tmp_path / "report.json"
    rc = main(
        [
            "scan",
            str(_image(tmp_path)),
            "-q",
            "--scanners",
            "license",
            "--format",
            "json",
            "-o",
            str(out),
            "--config",
            str(cfg),
            "--cache-dir",
            str(tmp_path / "c"),
            *args,
        ]
    )
    return rc, json.loads(out.read_text())


def test_license_scanner_findings_and_fail_on(tmp_path: Path) -> None:
    rc, report = _scan(
        tmp_path, "licenses:\n  packages: {busybox: permissive}\n", "--fail-on", "CRITICAL"
    )
    assert rc == 1  # left-pad's WTFPL is forbidden
    findings = {
        (f["package"]["name"] if f.get("package") else f["path"]): f for f in report["findings"]
    }  # type: ignore[union-attr]
    assert all(f["kind"] == "license" for f in findings.values())
    wtfpl = findings["left-pad"]
    assert (wtfpl["id"], wtfpl["severity"]) == ("WTFPL", "CRITICAL")
    assert wtfpl["details"]["category"] == "forbidden"
    assert findings["busybox"]["details"]["category"] == "permissive"  # the package's own
    assert findings["monolog/monolog"]["id"] == "MIT"  # the lighter of an OR
    assert findings["bsdutils"]["path"] == "usr/share/doc/util-linux/copyright"
    # the application's own LICENSE file, classified by its text
    assert findings["app/LICENSE"]["id"] == "MIT"
    rc, _ = _scan(
        tmp_path, "licenses:\n  permissive: [WTFPL]\n  files: false\n", "--fail-on", "CRITICAL"
    )
    assert rc == 0


def test_a_bad_policy_stops_the_scan_before_reading_the_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "hullscan.yaml"
    cfg.write_text("licenses:\n  severity: {forbidden: loud}\n")
    assert (
        main(["scan", str(tmp_path / "missing.tar"), "--scanners", "license", "--config", str(cfg)])
        == 2
    )
    assert "unknown severity 'loud'" in capsys.readouterr().err
