from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping

import pytest

from hullscan.analyzer import AnalyzerInputError, AnalyzerResult
from hullscan.inventory import java
from hullscan.inventory.java import (
    JavaArchiveAnalyzer,
    parse_archive_filename,
    parse_manifest,
    parse_pom_properties,
)
from hullscan.model import FileInfo, FileType

COMMONS_TEXT_MANIFEST = (
    "Manifest-Version: 1.0\r\n"
    "Bundle-License: https://www.apache.org/licenses/LICENSE-2.0.txt\r\n"
    "Bundle-SymbolicName: org.apache.commons.commons-text\r\n"
    "Created-By: Apache Maven Bundle Plugin 5.1.8\r\n"
    "Implementation-Title: Apache Commons Text\r\n"
    "Implementation-Vendor: The Apache Software Foundation\r\n"
    "Implementation-Vendor-Id: org.apache.commons\r\n"
    "Implementation-Version: 1.10.0\r\n"
    "Specification-Version: 1.10\r\n"
    'Export-Package: org.apache.commons.text;version="1.10.0",org.apache.com\r\n'
    ' mons.text.diff;version="1.10.0"\r\n'
    "\r\n"
)
POM_PROPERTIES = (
    "#Created by Apache Maven 3.8.6\ngroupId={group}\nartifactId={artifact}\nversion={version}\n"
)


def make_zip(members: Mapping[str, bytes | str], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def maven_jar(group: str, artifact: str, version: str, **extra: bytes | str) -> bytes:
    members: dict[str, bytes | str] = {
        "META-INF/MANIFEST.MF": f"Manifest-Version: 1.0\r\nImplementation-Version: {version}\r\n",
        f"META-INF/maven/{group}/{artifact}/pom.properties": POM_PROPERTIES.format(
            group=group, artifact=artifact, version=version
        ),
        f"META-INF/maven/{group}/{artifact}/pom.xml": "<project/>",
        "com/example/Foo.class": b"\xca\xfe\xba\xbe",
    }
    members.update(extra)
    return make_zip(members)


def run(path: str, data: bytes) -> AnalyzerResult | None:
    a = JavaArchiveAnalyzer()
    info = FileInfo(path, FileType.REG, size=len(data), mode=0o644)
    assert a.required(path, info)
    return a.analyze(path, info, io.BytesIO(data))


def purls(result: AnalyzerResult | None) -> list[str]:
    assert result is not None
    return sorted(p.purl for p in result.packages)


def test_required() -> None:
    a = JavaArchiveAnalyzer()
    reg = FileInfo("x", FileType.REG, size=10)
    for path in (
        "opt/app/app.jar",
        "usr/share/jenkins/jenkins.WAR",
        "x/plugin.hpi",
        "a.jpi",
        "a.ear",
        "a.par",
        "a.sar",
        "a.nar",
        "a.KAR",
    ):
        assert a.required(path, reg), path
    assert not a.required("opt/app/app.jar.sha1", reg)
    assert not a.required("opt/app/app.zip", reg)
    assert not a.required("opt/app/app.jar", FileInfo("x", FileType.SYMLINK, linkname="b.jar"))
    assert not a.required("opt/app/lib.jar", FileInfo("x", FileType.DIR))


def test_pom_properties_package_with_manifest_licenses() -> None:
    data = make_zip(
        {
            "META-INF/MANIFEST.MF": COMMONS_TEXT_MANIFEST,
            "META-INF/maven/org.apache.commons/commons-text/pom.properties": POM_PROPERTIES.format(
                group="org.apache.commons", artifact="commons-text", version="1.10.0"
            ),
            "org/apache/commons/text/StringSubstitutor.class": b"\xca\xfe\xba\xbe",
        }
    )
    result = run("usr/share/java/commons-text-1.10.0.jar", data)
    assert result is not None and len(result.packages) == 1
    pkg = result.packages[0]
    assert pkg.name == "commons-text"
    assert pkg.version == "1.10.0"
    assert pkg.type == "maven"
    assert pkg.purl == "pkg:maven/org.apache.commons/commons-text@1.10.0"
    assert tuple(x.value for x in pkg.licenses) == (
        "https://www.apache.org/licenses/LICENSE-2.0.txt",
    )
    assert pkg.found_by == "java-archive"
    assert pkg.locations == ()
    assert pkg.metadata["group_id"] == "org.apache.commons"
    assert pkg.metadata["pom_properties"] == (
        "META-INF/maven/org.apache.commons/commons-text/pom.properties"
    )
    assert "archive_path" not in pkg.metadata


def test_manifest_only_uses_file_name_and_vendor_id() -> None:
    data = make_zip({"META-INF/MANIFEST.MF": COMMONS_TEXT_MANIFEST})
    result = run("opt/lib/commons-text-1.10.0.jar", data)
    assert purls(result) == ["pkg:maven/org.apache.commons/commons-text@1.10.0"]
    assert result is not None
    pkg = result.packages[0]
    assert pkg.metadata["manifest_name"] == "Apache Commons Text"
    assert tuple(x.value for x in pkg.licenses) == (
        "https://www.apache.org/licenses/LICENSE-2.0.txt",
    )


def test_manifest_only_version_from_manifest_when_file_name_has_none() -> None:
    manifest = (
        "Manifest-Version: 1.0\n"
        "Implementation-Title: widget\n"
        "Implementation-Version: 2.4.1\n"
        "Automatic-Module-Name: com.example.widget\n"
    )
    result = run("app/widget.jar", make_zip({"META-INF/MANIFEST.MF": manifest}))
    assert purls(result) == ["pkg:maven/com.example.widget/widget@2.4.1"]


def test_manifest_only_without_group_uses_name() -> None:
    manifest = "Manifest-Version: 1.0\nMain-Class: com.example.Main\n"
    result = run("app.jar", make_zip({"META-INF/MANIFEST.MF": manifest}))
    assert result is not None
    assert [(p.name, p.version, p.purl) for p in result.packages] == [
        ("app", "", "pkg:maven/app/app")
    ]


def test_bundle_plugin_symbolic_name_gives_artifact() -> None:
    manifest = (
        "Manifest-Version: 1.0\n"
        "Created-By: Apache Maven Bundle Plugin\n"
        "Bundle-SymbolicName: org.example.parser;singleton:=true\n"
        "Bundle-Version: 3.2.1\n"
    )
    result = run("plugins/some-renamed-file.jar", make_zip({"META-INF/MANIFEST.MF": manifest}))
    assert purls(result) == ["pkg:maven/org.example/parser@3.2.1"]


def test_no_metadata_no_packages() -> None:
    assert run("x/resources.jar", make_zip({"a.txt": "hello"})) is None


def test_weave_classes_jar_is_skipped() -> None:
    manifest = "Manifest-Version: 1.0\nWeave-Classes: com.nr.instrumentation.Foo\n"
    data = make_zip(
        {
            "META-INF/MANIFEST.MF": manifest,
            "META-INF/maven/org.springframework/spring-web/pom.properties": POM_PROPERTIES.format(
                group="org.springframework", artifact="spring-web", version="5.0.0"
            ),
        }
    )
    assert run("newrelic/instrumentation/spring-5.0.0.jar", data) is None


def test_shaded_jar_reports_every_pom_properties_and_skips_incomplete_ones() -> None:
    data = make_zip(
        {
            "META-INF/MANIFEST.MF": "Manifest-Version: 1.0\nBundle-License: Apache-2.0\n",
            "META-INF/maven/com.example/tool/pom.properties": POM_PROPERTIES.format(
                group="com.example", artifact="tool", version="3.0"
            ),
            "META-INF/maven/com.google.guava/guava/pom.properties": POM_PROPERTIES.format(
                group="com.google.guava", artifact="guava", version="32.1.2-jre"
            ),
            # no version: ignored, as syft does
            "META-INF/maven/org.broken/thing/pom.properties": (
                "groupId=org.broken\nartifactId=thing\n"
            ),
        }
    )
    result = run("opt/tool-3.0.jar", data)
    assert purls(result) == [
        "pkg:maven/com.example/tool@3.0",
        "pkg:maven/com.google.guava/guava@32.1.2-jre",
    ]
    assert result is not None
    licenses = {p.name: tuple(x.value for x in p.licenses) for p in result.packages}
    assert licenses == {"tool": ("Apache-2.0",), "guava": ()}


def test_spring_boot_fat_jar_nested_libraries() -> None:
    lib_a = maven_jar("org.yaml", "snakeyaml", "1.33")
    lib_b = make_zip(
        {
            "META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n"
            "Implementation-Vendor-Id: com.fasterxml.jackson.core\n"
        }
    )
    app = make_zip(
        {
            "META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n"
            "Main-Class: org.springframework.boot.loader.JarLauncher\n",
            "META-INF/maven/com.example/demo/pom.properties": POM_PROPERTIES.format(
                group="com.example", artifact="demo", version="0.0.1-SNAPSHOT"
            ),
            "BOOT-INF/lib/snakeyaml-1.33.jar": lib_a,
            "BOOT-INF/lib/jackson-core-2.15.2.jar": lib_b,
            "BOOT-INF/classes/application.properties": "server.port=8080\n",
        },
        compression=zipfile.ZIP_STORED,
    )
    result = run("app/app.jar", app)
    assert result is not None
    by_name = {p.name: p for p in result.packages}
    assert set(by_name) == {"demo", "snakeyaml", "jackson-core"}
    assert by_name["demo"].purl == "pkg:maven/com.example/demo@0.0.1-SNAPSHOT"
    assert "archive_path" not in by_name["demo"].metadata
    assert by_name["snakeyaml"].purl == "pkg:maven/org.yaml/snakeyaml@1.33"
    assert by_name["snakeyaml"].metadata["archive_path"] == "BOOT-INF/lib/snakeyaml-1.33.jar"
    assert by_name["jackson-core"].purl == (
        "pkg:maven/com.fasterxml.jackson.core/jackson-core@2.15.2"
    )
    assert by_name["jackson-core"].metadata["archive_path"] == (
        "BOOT-INF/lib/jackson-core-2.15.2.jar"
    )
    assert all(p.locations == () for p in result.packages)
    assert result.warnings == []


def test_war_with_nested_jar_inside_nested_jar() -> None:
    innermost = maven_jar("org.slf4j", "slf4j-api", "2.0.7")
    middle = maven_jar("com.example", "plugin", "1.2", **{"lib/slf4j-api-2.0.7.jar": innermost})
    war = make_zip(
        {
            "WEB-INF/web.xml": "<web-app/>",
            "WEB-INF/lib/plugin-1.2.jar": middle,
        }
    )
    result = run("usr/local/tomcat/webapps/ROOT.war", war)
    assert result is not None
    paths = {p.purl: p.metadata.get("archive_path") for p in result.packages}
    assert paths == {
        "pkg:maven/com.example/plugin@1.2": "WEB-INF/lib/plugin-1.2.jar",
        "pkg:maven/org.slf4j/slf4j-api@2.0.7": "WEB-INF/lib/plugin-1.2.jar:lib/slf4j-api-2.0.7.jar",
    }


def test_nesting_depth_is_bounded() -> None:
    data = maven_jar("org.level", "level7", "7")
    for level in range(6, -1, -1):
        data = maven_jar(
            "org.level",
            f"level{level}",
            str(level),
            **{f"lib/level{level + 1}-{level + 1}.jar": data},
        )
    result = run("deep.jar", data)
    assert result is not None
    found = sorted(p.name for p in result.packages)
    # the file itself plus MAX_DEPTH levels below it
    assert found == [f"level{i}" for i in range(java.MAX_DEPTH + 1)]
    assert any("nested deeper" in w for w in result.warnings)


def test_nested_size_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(java, "MAX_NESTED_TOTAL", 1500)
    libs = {f"WEB-INF/lib/lib{i}-1.0.jar": maven_jar("org.lib", f"lib{i}", "1.0") for i in range(4)}
    assert all(len(v) < 1500 for v in libs.values())
    result = run("a.war", make_zip(libs, compression=zipfile.ZIP_STORED))
    assert result is not None
    assert 1 <= len(result.packages) < 4
    assert any("size or count limit" in w for w in result.warnings)


def test_nested_count_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(java, "MAX_NESTED_COUNT", 2)
    libs = {f"lib/lib{i}-1.0.jar": maven_jar("org.lib", f"lib{i}", "1.0") for i in range(5)}
    result = run("a.jar", make_zip(libs))
    assert result is not None
    assert len(result.packages) == 2
    assert len(result.warnings) == 3


def test_broken_nested_archive_is_a_warning_not_an_error() -> None:
    good = maven_jar("org.good", "good", "1.0")
    outer = make_zip(
        {
            "WEB-INF/lib/bad-1.0.jar": b"PK\x03\x04 this is not really a jar",
            "WEB-INF/lib/good-1.0.jar": good,
        }
    )
    result = run("x.war", outer)
    assert purls(result) == ["pkg:maven/org.good/good@1.0"]
    assert result is not None
    assert len(result.warnings) == 1 and "WEB-INF/lib/bad-1.0.jar" in result.warnings[0]


def test_truncated_archive() -> None:
    data = maven_jar("org.a", "a", "1")
    with pytest.raises(AnalyzerInputError, match="invalid java archive"):
        run("a.jar", data[: len(data) // 2])


def test_not_a_zip_and_empty_file() -> None:
    with pytest.raises(AnalyzerInputError):
        run("a.jar", b"#!/bin/sh\necho not a jar\n")
    with pytest.raises(AnalyzerInputError):
        run("a.jar", b"")


def test_corrupt_member_data() -> None:
    data = bytearray(
        make_zip(
            {
                "META-INF/MANIFEST.MF": "Manifest-Version: 1.0\nImplementation-Version: 1\n" * 50,
            }
        )
    )
    # flip bytes inside the deflated manifest: a zlib or CRC error, reported as malformed
    data[60:70] = b"\xff" * 10
    with pytest.raises(AnalyzerInputError):
        run("a.jar", bytes(data))


def test_too_many_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(java, "MAX_ENTRIES", 10)
    data = make_zip({f"f{i}.txt": "x" for i in range(11)})
    with pytest.raises(AnalyzerInputError, match="too many entries"):
        run("a.jar", data)


def test_oversized_metadata_file_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(java, "MAX_META_SIZE", 100)
    data = make_zip({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n" + "X-A: b\n" * 100})
    with pytest.raises(AnalyzerInputError):
        run("a.jar", data)


def test_parse_manifest_continuations_and_sections() -> None:
    m = parse_manifest(
        "Manifest-Version: 1.0\r\n"
        "Implementation-Title: Apache \r\n"
        " Commons Text\r\n"
        "Bundle-Version: 1.\r\n"
        " 10.0\r\n"
        "Implementation-Title: ignored duplicate\r\n"
        " and its continuation\r\n"
        "\r\n"
        "Name: org/apache/commons/text/\r\n"
        "Specification-Version: 1.10\r\n"
    )
    assert m.main == {
        "Manifest-Version": "1.0",
        "Implementation-Title": "Apache Commons Text",
        "Bundle-Version": "1.10.0",
    }
    assert m.sections == [{"Name": "org/apache/commons/text/", "Specification-Version": "1.10"}]
    assert m.get("Specification-Version") == "1.10"
    assert parse_manifest("").main == {}


def test_parse_pom_properties() -> None:
    props = parse_pom_properties("# comment\n! also\n\ngroupId = g\nartifactId:a\nversion=1=2\n")
    assert props == {"groupId": "g", "artifactId": "a", "version": "1=2"}


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("commons-text-1.10.0.jar", ("commons-text", "1.10.0")),
        ("pkg-maven_4.3.2.jar", ("pkg-maven", "4.3.2")),
        ("wagon-webdav-1.0.2-beta-2.2.3a-hudson.jar", ("wagon-webdav", "1.0.2-beta-2.2.3a-hudson")),
        ("trilead-ssh2-build212-hudson-5.jar", ("trilead-ssh2", "build212-hudson-5")),
        ("guava-r06.jar", ("guava", "r06")),
        ("spring-data-r2dbc-1.1.0.RELEASE.jar", ("spring-data-r2dbc", "1.1.0.RELEASE")),
        ("jboss-saaj-api_1.4_spec-1.0.2.Final.jar", ("jboss-saaj-api_1.4_spec", "1.0.2.Final")),
        ("BOOT-INF/lib/app.jar", ("app", "")),
        ("1.0.jar", ("", "")),
    ],
)
def test_parse_archive_filename(file_name: str, expected: tuple[str, str]) -> None:
    assert parse_archive_filename(file_name) == expected


def test_parse_archive_filename_is_linear() -> None:
    # a backtracking regex takes minutes on this
    assert parse_archive_filename("a." * 20000 + "a!.jar") == ("", "")
