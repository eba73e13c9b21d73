"""A scan's layer workers ask one service process to classify licence texts and to name
declared licences in SPDX (``licenses.service``): the same answers as a scan in one
process, errors reported to the worker that asked, and the same with the fork server a
scan started from a thread uses."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from hullscan.licenses import service, spdx, text
from hullscan.pipeline import ScanOptions, inventory
from test_licenses import MIT_TEXT, POM_WITHOUT, _jar

from imagebuilder import build, debian_base, file, write_docker_archive

APACHE_NOTICE = """Copyright 2020 Example Authors

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
"""


def _image(tmp_path: Path) -> Path:
    """Licence texts in three layers: free-form Debian copyright files and a jar's."""
    layers = [
        [*debian_base(), file("usr/share/doc/libssl3/copyright", MIT_TEXT)],
        [file("usr/share/doc/bsdutils/copyright", APACHE_NOTICE)],
        [
            file("app/lib/plain-2.0.jar", _jar("plain", "2.0", POM_WITHOUT, MIT_TEXT)),
            file("usr/share/doc/python3-six/copyright", "Not a licence, only prose.\n"),
        ],
    ]
    return write_docker_archive([(build(layers), ["app:1"])], tmp_path / "app.tar")


def _licences(tmp_path: Path, name: str, workers: int) -> dict[str, list[tuple[str, str]]]:
    inv = inventory(str(_image(tmp_path)), ScanOptions(cache_dir=tmp_path / name, workers=workers))
    return {p.name: [(lic.expression, lic.source) for lic in p.licenses] for p in inv.packages}


def test_workers_get_the_answers_of_a_scan_in_one_process(tmp_path: Path) -> None:
    two = _licences(tmp_path, "two", workers=2)
    assert not service.connected()  # the scan's own process never asks
    one = _licences(tmp_path, "one", workers=1)
    assert two == one
    assert two["libssl3"] == [("MIT", "dpkg-copyright:text")]
    assert two["bsdutils"] == [("Apache-2.0", "dpkg-copyright:text")]
    assert two["plain"] == [("MIT", "java:license-file")]


def test_a_scan_from_a_thread_shares_its_classifier_too(tmp_path: Path) -> None:
    """Scans started from a thread (a server's) fork their workers from a fork server."""
    found: list[object] = []
    scan = threading.Thread(target=lambda: found.append(_licences(tmp_path, "t", 2)))
    scan.start()
    scan.join()
    assert found == [_licences(tmp_path, "one", workers=1)]


def _in_worker(texts: list[str]) -> list[object]:
    out: list[object] = []
    for t in texts:
        try:
            out.append(text.classify(t))
        except RuntimeError as e:
            out.append(str(e))
    out.append(spdx.to_spdx("GPL-2+ or Artistic"))
    out.append(service.connected())
    return out


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_the_service_answers_each_worker_on_its_own_pipe(
    method: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = multiprocessing.get_context(method)
    asked = tmp_path / "asked"
    here = text._classify_here

    def recorded(t: str) -> tuple[str, ...]:
        with asked.open("a") as f:
            f.write(repr(t) + "\n")
        if "boom" in t:
            raise ValueError("boom")
        return here(t)

    # a forked service process takes the recorder with it; the workers never classify
    monkeypatch.setattr(text, "_classify_here", recorded)
    text.classify.cache_clear()
    spdx.to_spdx.cache_clear()
    with (
        service.LicenceService(2, context) as licences,
        ProcessPoolExecutor(
            max_workers=2,
            mp_context=context,
            initializer=service.connect_worker,
            initargs=licences.worker_args(),
        ) as pool,
    ):
        jobs = [
            pool.submit(_in_worker, [MIT_TEXT, APACHE_NOTICE, "boom " * 40, "  "]) for _ in range(4)
        ]
        answers = [job.result() for job in jobs]
    # a fork server's service process imports its own, unpatched modules
    boom = "licence classify failed: ValueError: boom" if method == "fork" else ()
    assert (
        answers
        == [[("MIT",), ("Apache-2.0",), boom, (), "GPL-2.0-or-later OR Artistic-1.0-Perl", True]]
        * 4
    )
    if method == "fork":
        # each text once: a blank one is never sent, an answer is memoized on both sides,
        # and an error is not memoized
        lines = asked.read_text().splitlines()
        assert lines.count(repr(MIT_TEXT)) == 1 and lines.count(repr(APACHE_NOTICE)) == 1
        assert 1 <= lines.count(repr("boom " * 40)) <= 4 and repr("  ") not in lines


def test_a_worker_whose_scan_process_is_gone_answers_itself() -> None:
    """A killed scan's workers die with it, but one may finish its layer first, and even
    store it in the cache: its answers must not depend on the process that is gone."""
    context = multiprocessing.get_context("fork")
    text.classify.cache_clear()  # the worker inherits these memos: it must ask
    spdx.to_spdx.cache_clear()
    with (
        service.LicenceService(1, context) as licences,
        ProcessPoolExecutor(
            max_workers=1,
            mp_context=context,
            initializer=service.connect_worker,
            initargs=licences.worker_args(),
        ) as pool,
    ):
        pool.submit(int).result()
        licences.close()
        assert pool.submit(_in_worker, [MIT_TEXT, APACHE_NOTICE]).result() == [
            ("MIT",),
            ("Apache-2.0",),
            "GPL-2.0-or-later OR Artistic-1.0-Perl",
            False,
        ]
