from __future__ import annotations

import io
import json
from typing import Any

import pytest

from hullscan.analyzer import AnalyzerInputError, AnalyzerResult
from hullscan.inventory.php import ComposerInstalledAnalyzer
from hullscan.model import FileInfo, FileType

STACK_CORS: dict[str, Any] = {
    "name": "asm89/stack-cors",
    "version": "1.3.0",
    "version_normalized": "1.3.0.0",
    "source": {
        "type": "git",
        "url": "https://github.com/asm89/stack-cors.git",
        "reference": "b9c31def6a83f84b4d4a40d35996d375755f0e08",
    },
    "dist": {
        "type": "zip",
        "url": "https://api.github.com/repos/asm89/stack-cors/zipball/b9c31def6a83f84b4d4a40d35996d375755f0e08",
        "reference": "b9c31def6a83f84b4d4a40d35996d375755f0e08",
        "shasum": "",
    },
    "require": {
        "php": ">=5.5.9",
        "symfony/http-foundation": "~2.7|~3.0|~4.0|~5.0",
        "symfony/http-kernel": "~2.7|~3.0|~4.0|~5.0",
    },
    "time": "2019-12-24T22:41:47+00:00",
    "type": "library",
    "extra": {"branch-alias": {"dev-master": "1.2-dev"}},
    "installation-source": "dist",
    "autoload": {"psr-4": {"Asm89\\Stack\\": "src/Asm89/Stack/"}},
    "notification-url": "https://packagist.org/downloads/",
    "license": ["MIT"],
    "authors": [{"name": "Alexander", "email": "iam.asm89@gmail.com"}],
    "description": "Cross-origin resource sharing library and stack middleware",
    "homepage": "https://github.com/asm89/stack-cors",
    "keywords": ["cors", "stack"],
}
MINK: dict[str, Any] = {
    "name": "behat/mink",
    "version": "v1.8.1",
    "version_normalized": "1.8.1.0",
    "require": {"php": ">=5.3.1", "symfony/css-selector": "^2.7|^3.0|^4.0|^5.0"},
    "type": "library",
    "installation-source": "dist",
    "license": ["MIT"],
    "description": "Browser controller/emulator abstraction for PHP",
}
INSTALLER: dict[str, Any] = {
    "name": "composer/installers",
    "version": "v2.2.0",
    "type": "composer-plugin",
    "license": "MIT",
}


def v2(packages: list[Any], dev: list[str] | None = None) -> bytes:
    doc: dict[str, Any] = {"packages": packages, "dev": bool(dev), "dev-package-names": dev or []}
    for p in packages:
        if isinstance(p, dict):
            p.setdefault("install-path", "../" + str(p.get("name")))
    return json.dumps(doc, indent=4).encode()


def run(
    data: bytes, path: str = "var/www/html/vendor/composer/installed.json"
) -> AnalyzerResult | None:
    a = ComposerInstalledAnalyzer()
    info = FileInfo(path, FileType.REG, size=len(data), mode=0o644)
    assert a.required(path, info)
    return a.analyze(path, info, io.BytesIO(data))


def test_required() -> None:
    a = ComposerInstalledAnalyzer()
    reg = FileInfo("x", FileType.REG, size=10)
    assert a.required("app/vendor/composer/installed.json", reg)
    assert a.required("vendor/composer/installed.json", reg)
    assert not a.required("app/composer.lock", reg)
    assert not a.required("app/vendor/composer/installed.php", reg)
    assert not a.required("app/myvendor/composer/installed.json", reg)
    assert not a.required(
        "app/vendor/composer/installed.json", FileInfo("x", FileType.SYMLINK, linkname="y")
    )


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_composer_v1_and_v2(layout: str) -> None:
    packages = [dict(STACK_CORS), dict(MINK)]
    data = json.dumps(packages).encode() if layout == "v1" else v2(packages)
    result = run(data)
    assert result is not None
    assert [
        (p.name, p.version, p.purl, tuple(x.value for x in p.licenses)) for p in result.packages
    ] == [
        ("asm89/stack-cors", "1.3.0", "pkg:composer/asm89/stack-cors@1.3.0", ("MIT",)),
        # the leading "v" stays, as syft keeps it
        ("behat/mink", "v1.8.1", "pkg:composer/behat/mink@v1.8.1", ("MIT",)),
    ]
    assert all(
        p.type == "composer" and p.found_by == "php-composer" and p.locations == ()
        for p in result.packages
    )


def test_dev_packages_and_plugin_type() -> None:
    result = run(v2([dict(STACK_CORS), dict(MINK), dict(INSTALLER)], dev=["behat/mink"]))
    assert result is not None
    meta = {p.name: p.metadata for p in result.packages}
    assert meta == {
        "asm89/stack-cors": {},
        "behat/mink": {"dev": True},
        "composer/installers": {"composer_type": "composer-plugin"},
    }
    assert tuple(x.value for x in result.packages[2].licenses) == ("MIT",)


def test_empty_installation() -> None:
    assert run(v2([])) is None
    assert run(b"[]") is None


def test_entries_with_wrong_types_are_skipped_with_a_warning() -> None:
    bad_version = dict(STACK_CORS, version=130)
    result = run(v2([bad_version, "behat/mink", dict(MINK), {"version": "1.0"}]))
    assert result is not None
    assert [p.name for p in result.packages] == ["behat/mink"]
    assert len(result.warnings) == 3


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b'{"packages": [',
        b"\xff\xfe\x00garbage",
        b'{"packages": {"a": 1}}',
        b'{"dev": true}',
        b'"a string"',
        b"42",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(AnalyzerInputError):
        run(data)


def test_utf8_bom_is_accepted() -> None:
    result = run(b"\xef\xbb\xbf" + json.dumps([MINK]).encode())
    assert result is not None and result.packages[0].name == "behat/mink"
