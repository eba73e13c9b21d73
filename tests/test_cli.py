"""The command line: formats, output files, exit codes, messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hullscan.cli import main

import imagebuilder as ib

DEMO_ADVISORIES = Path(__file__).resolve().parent.parent / "examples" / "demo" / "advisories.zip"


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    img = ib.build(
        [
            ib.debian_base(),
            [
                ib.file(
                    "app/node_modules/lodash/package.json",
                    '{"name": "lodash", "version": "4.17.15"}',
                )
            ],
        ]
    )
    return ib.write_docker_archive([(img, ["example/app:1.0"])], tmp_path / "app.tar")


def test_sbom_json_report_shape(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    rc = main(
        [
            "sbom",
            f"docker-archive:{archive}",
            "--format",
            "json",
            "-o",
            str(out),
            "--cache-dir",
            str(tmp_path / "c"),
        ]
    )
    assert rc == 0
    assert capsys.readouterr().out == ""
    doc = json.loads(out.read_text())
    assert doc["schema"] == "hullscan.report/v1"
    assert doc["image"]["os"]["id"] == "debian"
    assert doc["image"]["config_digest"].startswith("sha256:")
    assert [layer["index"] for layer in doc["image"]["layers"]] == [0, 1]
    lodash = next(p for p in doc["packages"] if p["name"] == "lodash")
    assert lodash["purl"] == "pkg:npm/lodash@4.17.15"
    assert lodash["locations"] == [
        {
            "path": "app/node_modules/lodash/package.json",
            "layer": doc["image"]["layers"][1]["diff_id"],
        }
    ]
    six = next(p for p in doc["packages"] if p["name"] == "six")
    assert six["owner"] == "python3-six"
    assert doc["summary"]["packages_by_type"] == {"deb": 3, "npm": 1, "pypi": 1}


def test_sbom_table_to_stdout(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sbom", str(archive), "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "example/app:1.0" in out
    assert "libssl3" in out and "openssl" in out
    assert out.rstrip().splitlines()[-1] == "5 packages: 3 deb, 1 npm, 1 pypi"


def test_scan_finds_and_fails_on(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = str(tmp_path / "c")
    assert main(["db", "import", str(DEMO_ADVISORIES), "--cache-dir", cache]) == 0
    capsys.readouterr()
    assert main(["scan", str(archive), "--cache-dir", cache]) == 0
    out = capsys.readouterr().out
    assert "lodash 4.17.15" in out and "NSWG-ECO-516" in out and "4.17.19" in out
    assert main(["scan", str(archive), "--cache-dir", cache, "--fail-on", "medium"]) == 1
    assert main(["scan", str(archive), "--cache-dir", cache, "--fail-on", "high"]) == 0
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text("- {id: NSWG-ECO-516, reason: not reachable}\n")
    assert (
        main(
            [
                "scan",
                str(archive),
                "--cache-dir",
                cache,
                "--fail-on",
                "medium",
                "--ignore-file",
                str(ignore),
            ]
        )
        == 0
    )


def test_scan_without_database_says_how_to_get_one(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(archive), "--cache-dir", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hullscan db" in err


def test_errors_are_one_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sbom", str(tmp_path / "missing.tar")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hullscan: error:")
    assert main(["sbom", "x", "--format", "xml"]) == 2
    assert main(["sbom", "oci:/nonexistent", "--platform", "linux"]) == 2


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "sbom" in capsys.readouterr().out
    assert main(["sbom", "--help"]) == 0
    assert "docker-archive:PATH" in capsys.readouterr().out
    assert main(["--version"]) == 0


def test_lazy_command_table_matches_the_commands() -> None:
    """``hullscan --help`` lists commands from a table, without importing them: each row
    must name a command of that name whose own summary is the one listed."""
    import importlib

    import click

    from hullscan.cli import COMMANDS, cli

    for name, (module, attr, summary) in COMMANDS.items():
        command = getattr(importlib.import_module(f"hullscan.cli.{module}"), attr)
        assert isinstance(command, click.Command) and command.name == name
        assert command.get_short_help_str(10_000) == summary, name
        assert cli.get_command(click.Context(cli), name) is command
    defined = {
        m.name.removesuffix(".py")
        for m in (Path(__file__).resolve().parent.parent / "src/hullscan/cli").glob("*.py")
    }
    for module in defined - {"__init__", "__main__", "common", "registry"}:
        mod = importlib.import_module(f"hullscan.cli.{module}")
        for value in vars(mod).values():
            if isinstance(value, click.Command) and value.__module__ == mod.__name__:
                assert value.name in COMMANDS, f"{value.name} ({module}) is not listed"


def test_help_imports_no_command() -> None:
    """Start-up: ``hullscan --help`` loads click and the command table, not the commands
    (nor the layer walker, the scanners or the HTTP stack behind them)."""
    code = (
        "import sys; from hullscan.cli import main; main(['--help']); "
        "print(sorted(m for m in sys.modules if m.startswith('hullscan')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = proc.stdout.strip().splitlines()[-1]
    for heavy in (
        "hullscan.cli.scan",
        "hullscan.layers",
        "hullscan.pipeline",
        "hullscan.cache'",
        "hullscan.model",
        "hullscan.sources.interface",
    ):
        assert heavy not in loaded, heavy


def test_rescan_from_the_cache_imports_no_file_reader(archive: Path, tmp_path: Path) -> None:
    """Start-up of a rescan: with every layer cached, nothing reads a file, so the readers
    that are slow to import (cryptography, pyelftools, pefile), the worker pool and the
    terminal table are not loaded."""
    cache = tmp_path / "c"
    args = [
        "scan",
        str(archive),
        "--scanners",
        "secret",
        "-q",
        "--format",
        "json",
        "--cache-dir",
        str(cache),
        "-o",
        str(tmp_path / "r.json"),
    ]
    assert main(args) == 0
    code = (
        f"import sys; from hullscan.cli import main; assert main({args!r}) == 0; "
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = proc.stdout.strip().splitlines()[-1]
    for heavy in (
        "cryptography",
        "elftools",
        "pefile",
        "multiprocessing",
        "rich",
        "concurrent",
        "tomllib",
        "zstandard",
    ):
        assert f"'{heavy}'" not in loaded, heavy


def test_a_cached_sbom_without_a_config_parses_no_yaml(archive: Path, tmp_path: Path) -> None:
    """Without hullscan.yaml and without licence judgements, no YAML is read: PyYAML's
    import and the built-in licence categories (~15 ms) stay out of a cached ``sbom``."""
    args = [
        "sbom",
        str(archive),
        "-q",
        "--cache-dir",
        str(tmp_path / "c"),
        "-o",
        str(tmp_path / "bom.json"),
    ]
    assert main(args) == 0
    code = (
        f"import sys; from hullscan.cli import main; assert main({args!r}) == 0; "
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert "'yaml'" not in proc.stdout.strip().splitlines()[-1]


def test_console_script_exit_code(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hullscan.cli", "sbom", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_the_command_exits_quickly_yet_cleanly(archive: Path, tmp_path: Path) -> None:
    """``hullscan`` skips the interpreter's teardown: its exit code, everything it wrote to
    a pipe and its exit handlers are still there; a thread still running is waited for."""
    ran = tmp_path / "exit-handler-ran"
    code = (
        "import atexit, pathlib, sys, threading, time\n"
        f"atexit.register(pathlib.Path({str(ran)!r}).write_text, 'yes')\n"
        "if sys.argv[1] == 'thread':\n"
        f"    threading.Thread(target=lambda: (time.sleep(0.5), pathlib.Path("
        f"{str(ran)!r} + '.thread').write_text('done'))).start()\n"
        "from hullscan.cli import run\n"
        "sys.argv[1:2] = []\n"
        "run()\n"
    )
    for extra in ("-", "thread"):
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                extra,
                "sbom",
                str(archive),
                "--cache-dir",
                str(tmp_path / "c"),
                "--format",
                "json",
            ],
            capture_output=True,
        )
        assert proc.returncode == 0, proc.stderr
        assert {p["name"] for p in json.loads(proc.stdout)["packages"]} >= {"lodash", "six"}
        assert ran.read_text() == "yes"
        ran.unlink()
    assert Path(f"{ran}.thread").read_text() == "done"
    missing = subprocess.run(
        [sys.executable, "-m", "hullscan", "sbom", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and missing.stderr.startswith("hullscan: error:")


def test_rescan_is_served_from_the_cache(archive: Path, tmp_path: Path) -> None:
    from hullscan.pipeline import ScanOptions, inventory

    options = ScanOptions(cache_dir=tmp_path / "c")
    seen: list[bool] = []
    first = inventory(str(archive), options, progress=lambda i, n, cached: seen.append(cached))
    assert seen == [False, False]
    seen.clear()
    again = inventory(str(archive), options, progress=lambda i, n, cached: seen.append(cached))
    assert seen == [True, True]
    assert again.packages == first.packages
    seen.clear()
    inventory(
        str(archive),
        ScanOptions(cache_dir=tmp_path / "c", use_cache=False),
        progress=lambda i, n, cached: seen.append(cached),
    )
    assert seen == [False, False]


def test_analyzer_version_invalidates_the_cache(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hullscan.inventory.node import NodePackageAnalyzer
    from hullscan.pipeline import ScanOptions, inventory

    options = ScanOptions(cache_dir=tmp_path / "c")
    inventory(str(archive), options)
    monkeypatch.setattr(NodePackageAnalyzer, "version", NodePackageAnalyzer.version + 1)
    seen: list[bool] = []
    inventory(str(archive), options, progress=lambda i, n, cached: seen.append(cached))
    assert seen == [False, False]


def test_corrupt_cache_entry_is_a_miss(archive: Path, tmp_path: Path) -> None:
    import sqlite3

    from hullscan.pipeline import ScanOptions, inventory

    options = ScanOptions(cache_dir=tmp_path / "c")
    first = inventory(str(archive), options)
    with sqlite3.connect(tmp_path / "c" / "layers.sqlite") as db:
        db.execute("UPDATE layer_analysis SET data = x'00112233'")
    assert inventory(str(archive), options).packages == first.packages


def test_user_secret_rules_from_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = "acme_" + "k3j5h2g7f9d1s4a6q8w0e2r5t7y9u1i3"
    img = ib.build([[ib.file("app/settings.txt", f"key {token}\n")]])
    archive = ib.write_docker_archive([(img, ["example/acme:1"])], tmp_path / "acme.tar")
    cache = str(tmp_path / "c")
    base = ["scan", str(archive), "--scanners", "secret", "-f", "json", "--cache-dir", cache]
    assert main(base) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []
    config = tmp_path / "hullscan.yaml"
    config.write_text(
        "secrets:\n  rules:\n    - id: acme-api-key\n      keywords: [acme_]\n"
        "      regex: 'acme_(?P<secret>[a-z0-9]{32})'\n"
    )
    # a new rule set must not be served from the cache built without it
    assert main([*base, "--config", str(config), "--fail-on", "high"]) == 1
    [finding] = json.loads(capsys.readouterr().out)["findings"]
    assert (finding["id"], finding["path"], finding["line"]) == (
        "acme-api-key",
        "app/settings.txt",
        1,
    )
    assert token not in json.dumps(finding) and finding["in_final_image"] is True


def test_lint_exit_codes_stdin_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu:latest\nRUN curl -sSL https://x.example/i.sh | sh\n")
    assert main(["lint", str(bad)]) == 0  # like scan: fails only with --fail-on
    assert "HS-DF-024" in capsys.readouterr().out
    assert main(["lint", str(bad), "--fail-on", "high"]) == 1
    capsys.readouterr()
    assert main(["lint", str(bad), "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {f["id"] for f in doc["findings"]} >= {"HS-DF-002", "HS-DF-024"}
    assert all(f["path"] == str(bad) and f["line"] for f in doc["findings"])
    monkeypatch.setattr(
        "sys.stdin",
        io.StringIO(
            'FROM gcr.io/distroless/static-debian12:nonroot\nCOPY app /app\nENTRYPOINT ["/app"]\n'
        ),
    )
    assert main(["lint", "-", "--fail-on", "low"]) == 0
    assert main(["lint", str(tmp_path / "missing")]) == 2
