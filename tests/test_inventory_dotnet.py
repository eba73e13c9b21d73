from __future__ import annotations

import io
import json
from typing import Any

import pytest

from hullscan.analyzer import AnalyzerInputError, AnalyzerResult
from hullscan.inventory.dotnet import DotnetDepsAnalyzer
from hullscan.model import FileInfo, FileType

NEWTONSOFT_SHA = (
    "sha512-ppPFpBcvxdsfUonNcvITKqLl3bqxWbDCZIzDWHzjpdAHRFfZe0Dw9HmA0+za13IdyrgJwpk"
    "DTDA9fHaxOrt20A=="
)

# the shape `dotnet publish` writes for a framework-dependent app
DEPS: dict[str, Any] = {
    "runtimeTarget": {"name": ".NETCoreApp,Version=v6.0", "signature": ""},
    "compilationOptions": {},
    "targets": {
        ".NETCoreApp,Version=v6.0": {
            "WebApi/1.0.0": {
                "dependencies": {
                    "Newtonsoft.Json": "13.0.1",
                    "Serilog.AspNetCore": "6.1.0",
                    "Microsoft.SourceLink.GitHub": "1.1.1",
                },
                "runtime": {"WebApi.dll": {}},
            },
            "Newtonsoft.Json/13.0.1": {
                "runtime": {
                    "lib/netstandard2.0/Newtonsoft.Json.dll": {
                        "assemblyVersion": "13.0.0.0",
                        "fileVersion": "13.0.1.25517",
                    }
                },
            },
            "Serilog.AspNetCore/6.1.0": {
                "dependencies": {"Serilog": "2.12.0"},
                "runtime": {
                    "lib/net5.0/Serilog.AspNetCore.dll": {
                        "assemblyVersion": "6.1.0.0",
                        "fileVersion": "6.1.0.0",
                    }
                },
            },
            "Serilog/2.12.0": {
                "runtime": {
                    "lib/net5.0/Serilog.dll": {
                        "assemblyVersion": "2.0.0.0",
                        "fileVersion": "2.12.0.0",
                    }
                },
            },
            "Microsoft.SourceLink.GitHub/1.1.1": {
                "dependencies": {"Microsoft.Build.Tasks.Git": "1.1.1"},
            },
            "Common/1.0.0": {"runtime": {"Common.dll": {}}},
        },
    },
    "libraries": {
        "WebApi/1.0.0": {"type": "project", "serviceable": False, "sha512": ""},
        "Newtonsoft.Json/13.0.1": {
            "type": "package",
            "serviceable": True,
            "sha512": NEWTONSOFT_SHA,
            "path": "newtonsoft.json/13.0.1",
            "hashPath": "newtonsoft.json.13.0.1.nupkg.sha512",
        },
        "Serilog.AspNetCore/6.1.0": {
            "type": "package",
            "serviceable": True,
            "sha512": "sha512-AAAA",
            "path": "serilog.aspnetcore/6.1.0",
            "hashPath": "serilog.aspnetcore.6.1.0.nupkg.sha512",
        },
        "Serilog/2.12.0": {
            "type": "package",
            "serviceable": True,
            "sha512": "sha512-BBBB",
            "path": "serilog/2.12.0",
            "hashPath": "serilog.2.12.0.nupkg.sha512",
        },
        "Microsoft.SourceLink.GitHub/1.1.1": {
            "type": "package",
            "serviceable": True,
            "sha512": "sha512-CCCC",
            "path": "microsoft.sourcelink.github/1.1.1",
            "hashPath": "microsoft.sourcelink.github.1.1.1.nupkg.sha512",
        },
        "Common/1.0.0": {"type": "project", "serviceable": False, "sha512": ""},
    },
}


def run(data: bytes, path: str = "app/WebApi.deps.json") -> AnalyzerResult | None:
    a = DotnetDepsAnalyzer()
    info = FileInfo(path, FileType.REG, size=len(data), mode=0o644)
    assert a.required(path, info)
    return a.analyze(path, info, io.BytesIO(data))


def test_required() -> None:
    a = DotnetDepsAnalyzer()
    reg = FileInfo("x", FileType.REG, size=10)
    assert a.required("app/WebApi.deps.json", reg)
    assert a.required(
        "usr/share/dotnet/shared/Microsoft.NETCore.App/6.0.21/Microsoft.NETCore.App.deps.json", reg
    )
    assert not a.required("app/.deps.json", reg)
    assert not a.required("app/WebApi.runtimeconfig.json", reg)
    assert not a.required("app/WebApi.deps.json", FileInfo("x", FileType.SYMLINK, linkname="y"))


def test_packages() -> None:
    result = run(json.dumps(DEPS, indent=2).encode())
    assert result is not None
    by_name = {p.name: p for p in result.packages}
    assert sorted(by_name) == [
        "Microsoft.SourceLink.GitHub",
        "Newtonsoft.Json",
        "Serilog",
        "Serilog.AspNetCore",
    ]
    nj = by_name["Newtonsoft.Json"]
    assert (nj.version, nj.type, nj.purl) == ("13.0.1", "nuget", "pkg:nuget/Newtonsoft.Json@13.0.1")
    assert nj.found_by == "dotnet-deps"
    assert nj.locations == ()
    assert nj.metadata == {"sha512": NEWTONSOFT_SHA, "path": "newtonsoft.json/13.0.1"}
    # a build-time package without runtime assets is kept but marked
    assert by_name["Microsoft.SourceLink.GitHub"].metadata["runtime"] is False
    assert "runtime" not in by_name["Serilog"].metadata


def test_without_targets_every_package_is_kept_unmarked() -> None:
    doc = {"libraries": DEPS["libraries"]}
    result = run(json.dumps(doc).encode())
    assert result is not None
    assert len(result.packages) == 4
    assert all("runtime" not in p.metadata for p in result.packages)


def test_no_libraries() -> None:
    assert run(b'{"runtimeTarget": {"name": "x"}}') is None
    assert run(b'{"libraries": {}}') is None
    only_projects = {"libraries": {"App/1.0.0": {"type": "project"}}}
    assert run(json.dumps(only_projects).encode()) is None


def test_bom_is_accepted() -> None:
    result = run(b"\xef\xbb\xbf" + json.dumps(DEPS).encode())
    assert result is not None and len(result.packages) == 4


def test_odd_entries_are_skipped_with_warnings() -> None:
    doc = {
        "libraries": {
            "Good/1.0.0": {"type": "package"},
            "NoVersion": {"type": "package"},
            "Numeric/1.0.0": 5,
            "NoType/1.0.0": {"type": 1},
            "Serilog/2.12.0": {"type": "Package", "sha512": 7},
        }
    }
    result = run(json.dumps(doc).encode())
    assert result is not None
    assert [(p.name, p.version, p.metadata) for p in result.packages] == [
        ("Good", "1.0.0", {}),
        ("Serilog", "2.12.0", {}),
    ]
    assert len(result.warnings) == 3


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b"\xff\xfe{}",
        b"[]",
        b'{"libraries": []}',
        b'{"libraries": "Newtonsoft.Json/13.0.1"}',
        b'{"a":' * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(AnalyzerInputError):
        run(data)
