"""``hullscan db update``: fetch OSV's per-ecosystem exports and rebuild the database.

The mirror layout is OSV's public one, ``<source>/<Ecosystem>/all.zip``; ``source``
is an http(s) URL, a ``file://`` URL or a plain directory. Each export is asked for
conditionally (``If-None-Match``/``If-Modified-Since`` from the ETag/Last-Modified
kept in the database's meta), so an unchanged export costs one 304 and no download;
for a directory, size + mtime play the ETag's part. Everything that changed is
imported in ONE build and one atomic swap (build.py): any failure — HTTP error,
network error, oversized or corrupt download — leaves the old database as it was.

The same update fetches CISA's KEV catalog and FIRST's EPSS scores, in the same
build and swap. From OSV's public export they come from CISA and FIRST; from any
other mirror, from ``<mirror>/kev/known_exploited_vulnerabilities.json`` and
``<mirror>/epss/epss_scores-current.csv.gz`` (skipped, with a note, when a mirror
directory lacks them); ``kev_source``/``epss_source`` name any other URL or file,
or ``off``.

This is the only module of hullscan's scan path that touches the network, and only
the sources the user configured; redirects are not followed, so a mirror cannot
send requests elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit
from urllib.request import url2pathname

from hullscan.cache import default_cache_dir
from hullscan.errors import DatabaseError
from hullscan.vulndb.build import (
    ImportStats,
    ProgressFn,
    SourceSpec,
    build,
    db_lock,
    existing_meta,
    file_spec,
    utc_now,
)
from hullscan.vulndb.exploits import DEFAULT_EPSS_URL, DEFAULT_KEV_URL, EPSS_FILE, KEV_FILE
from hullscan.vulndb.names import base_ecosystem
from hullscan.vulndb.store import VulnDB

if TYPE_CHECKING:
    import httpx

DEFAULT_SOURCE = "https://osv-vulnerabilities.storage.googleapis.com"
#: what a first ``db update`` fetches when the database has no ecosystems yet
DEFAULT_ECOSYSTEMS = (
    "Debian",
    "Ubuntu",
    "Alpine",
    "Red Hat",
    "AlmaLinux",
    "Rocky Linux",
    "SUSE",
    "openSUSE",
    "Wolfi",
    "Chainguard",
    "Azure Linux",
    "PyPI",
    "npm",
    "Go",
    "Maven",
    "crates.io",
    "RubyGems",
    "NuGet",
    "Packagist",
)
#: where a mirror keeps the exploitation data, relative to its root
MIRROR_PATHS = {"kev": f"kev/{KEV_FILE}", "epss": f"epss/{EPSS_FILE}"}
#: OSV's largest export is a few hundred MB
MAX_DOWNLOAD_BYTES = 2 * 1024**3
DEFAULT_TIMEOUT = 60.0
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Fetched:
    ecosystem: str
    #: the URL or path the export came from (its label in the database's meta)
    url: str
    #: "downloaded" (or "read", for a directory), "unchanged", or "not on the mirror"
    status: str
    bytes: int = 0


@dataclass(frozen=True)
class UpdateResult:
    dest: Path
    source: str
    fetched: tuple[Fetched, ...]
    #: None when every export was unchanged and the database was kept as it was
    imported: ImportStats | None

    @property
    def changed(self) -> tuple[str, ...]:
        return tuple(f.ecosystem for f in self.fetched if f.status in ("downloaded", "read"))

    def summary(self) -> str:
        parts = [
            f"{f.ecosystem} {f.status}" + (f" ({f.bytes / 1e6:.1f} MB)" if f.bytes else "")
            for f in self.fetched
        ]
        head = ", ".join(parts)
        if self.imported is None:
            return f"{head}; nothing changed, database kept"
        return f"{head}; {self.imported.summary()}"


def exploit_sources(
    source: str, kev: str | None, epss: str | None
) -> dict[str, tuple[str | None, Path | None, bool]]:
    """Where KEV and EPSS come from: {data: (URL, None, optional) or (None, file,
    optional)}; ``off`` leaves one out, and so does a mirror directory that lacks it.
    ``optional``: a mirror's own copy, which it may not keep (an HTTP 404 skips it)."""
    base_url, local_dir = _resolve_source(source)
    out: dict[str, tuple[str | None, Path | None, bool]] = {}
    for data, given, default_url in (
        ("kev", kev, DEFAULT_KEV_URL),
        ("epss", epss, DEFAULT_EPSS_URL),
    ):
        if given is not None and given.lower() == "off":
            continue
        optional = False
        if given:
            url, path = _resolve_location(given, data)
        elif base_url == DEFAULT_SOURCE:
            url, path = default_url, None
        elif base_url is not None:
            url, path, optional = f"{base_url}/{MIRROR_PATHS[data]}", None, True
        else:
            assert local_dir is not None
            url, path = None, local_dir / MIRROR_PATHS[data]
            if not path.is_file():
                continue
        out[data] = (url, path, optional)
    return out


def _resolve_location(given: str, data: str) -> tuple[str | None, Path | None]:
    parts = urlsplit(given)
    if parts.scheme.lower() in ("http", "https"):
        if not parts.netloc:
            raise DatabaseError(f"--{data}-url {given}: no host in the URL")
        return given, None
    path = (
        Path(url2pathname(unquote(parts.path))) if parts.scheme.lower() == "file" else Path(given)
    )
    if not path.is_file():
        raise DatabaseError(f"--{data}-url {given}: no such file")
    return None, path


def update(
    dest_db: Path | str,
    source: str = DEFAULT_SOURCE,
    ecosystems: list[str] | None = None,
    offline: bool = False,
    *,
    kev_source: str | None = None,
    epss_source: str | None = None,
    cache_dir: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    progress: ProgressFn | None = None,
) -> UpdateResult:
    """Fetch the exports of ``ecosystems`` (default: the base ecosystems already in the
    database, else ``DEFAULT_ECOSYSTEMS``) from ``source``, and the KEV catalog and
    EPSS scores (see ``exploit_sources``), and import those that changed, in one
    build. ``offline`` refuses any network source before touching the network; a
    local directory source works offline."""
    dest = Path(dest_db)
    base_url, local_dir = _resolve_source(source)
    extras = exploit_sources(source, kev_source, epss_source)
    remote = [base_url] if base_url else []
    remote += [url for url, _, _ in extras.values() if url]
    if remote and offline:
        raise DatabaseError(
            f"db update would download from {remote[0]}, but --offline forbids "
            "network access; use `hullscan db import PATH` with local OSV data, "
            "or a directory as --source"
        )
    names = [_check_ecosystem(e) for e in ecosystems] if ecosystems else None
    tmp_dir = (cache_dir or default_cache_dir()) / "tmp"
    temp_files: list[Path] = []
    with db_lock(dest):
        old = existing_meta(dest)
        known = (old or {}).get("sources") or {}
        if names is None:
            names = _db_base_ecosystems(dest) if old is not None else []
            names = names or list(DEFAULT_ECOSYSTEMS)
        specs: list[SourceSpec] = []
        fetched: list[Fetched] = []
        try:
            wanted: list[tuple[str, str, str, bool]] = []  # (name, URL, data, optional)
            local: list[tuple[str, SourceSpec]] = []
            if base_url is not None:
                wanted += [
                    (eco, f"{base_url}/{quote(eco, safe='')}/all.zip", "osv", False)
                    for eco in names
                ]
            else:
                assert local_dir is not None
                local += [(eco, _local_export(local_dir, eco)) for eco in names]
            for data, (url, path, optional) in extras.items():
                if url is not None:
                    wanted.append((data.upper(), url, data, optional))
                else:
                    assert path is not None
                    local.append((data.upper(), file_spec(path, "file", data)))
            if wanted:
                tmp_dir.mkdir(parents=True, exist_ok=True)
                for name, url, spec, n in _fetch_remote(
                    wanted, known, tmp_dir, temp_files, timeout, max_bytes
                ):
                    status = (
                        "downloaded" if spec else "unchanged" if n == 0 else "not on the mirror"
                    )
                    fetched.append(Fetched(name, url, status, max(n, 0)))
                    if spec is not None:
                        specs.append(spec)
            for name, spec in local:
                unchanged = (known.get(spec.label) or {}).get("etag") == spec.etag
                fetched.append(
                    Fetched(
                        name,
                        spec.label,
                        "unchanged" if unchanged else "read",
                        0 if unchanged else spec.path.stat().st_size,
                    )
                )
                if not unchanged:
                    specs.append(spec)
            now = utc_now()
            if not specs and old is not None:
                _mark_checked(dest, now)
                return UpdateResult(dest, source, tuple(fetched), None)
            stats = build(specs, dest, progress, checked_at=now)
        finally:
            for f in temp_files:
                with contextlib.suppress(OSError):
                    f.unlink()
    return UpdateResult(dest, source, tuple(fetched), stats)


def _resolve_source(source: str) -> tuple[str | None, Path | None]:
    """(base URL, None) for http(s), (None, directory) for file:// and paths."""
    parts = urlsplit(source)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.netloc:
            raise DatabaseError(f"--source {source}: no host in the URL")
        return source.rstrip("/"), None
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise DatabaseError(f"--source {source}: only local file:// URLs are supported")
        path = Path(url2pathname(unquote(parts.path)))
    elif len(scheme) > 1:  # a one-letter "scheme" is a Windows drive
        raise DatabaseError(
            f"--source {source}: unsupported scheme {scheme}:// "
            "(use https://, file:// or a directory)"
        )
    else:
        path = Path(source)
    if not path.is_dir():
        raise DatabaseError(f"--source {source}: not a directory")
    return None, path


def _check_ecosystem(name: str) -> str:
    # it becomes a URL path segment or a directory name: nothing that could climb out
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or any(ord(c) < 32 for c in name)
    ):
        raise DatabaseError(f"--ecosystem {name!r}: not an OSV ecosystem name")
    return name


def _db_base_ecosystems(dest: Path) -> list[str]:
    db = VulnDB(dest)
    try:
        return sorted({base_ecosystem(e) for e in db.ecosystems()})
    finally:
        db.close()


def _local_export(directory: Path, eco: str) -> SourceSpec:
    path = directory / eco / "all.zip"
    if not path.is_file():
        raise DatabaseError(
            f"{path}: not found (is {eco!r} an OSV ecosystem name? they are "
            "case-sensitive, e.g. PyPI, crates.io)"
        )
    return file_spec(path, "zip")


def _fetch_remote(
    wanted: list[tuple[str, str, str, bool]],
    known: dict[str, Any],
    tmp_dir: Path,
    temp_files: list[Path],
    timeout: float,
    max_bytes: int,
) -> list[tuple[str, str, SourceSpec | None, int]]:
    """(name, URL, spec of the download or None, bytes): None with 0 bytes when
    unchanged, with -1 when an optional file is not there."""
    try:
        import httpx
    except ImportError:
        raise DatabaseError(
            "db update from a URL needs the httpx package (pip install httpx)"
        ) from None
    from hullscan import __version__

    out = []
    with httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        follow_redirects=False,
        headers={"User-Agent": f"hullscan/{__version__}"},
    ) as client:
        for name, url, data, optional in wanted:
            prev = known.get(url) or {}
            try:
                result = _download(
                    client, url, prev, tmp_dir, temp_files, max_bytes, data, optional
                )
            except httpx.TimeoutException as e:
                raise DatabaseError(f"{url}: timed out ({type(e).__name__})") from None
            except (httpx.HTTPError, httpx.InvalidURL) as e:
                raise DatabaseError(f"{url}: download failed ({type(e).__name__}: {e})") from None
            out.append((name, url, *result))
    return out


def _download(
    client: httpx.Client,
    url: str,
    prev: dict[str, Any],
    tmp_dir: Path,
    temp_files: list[Path],
    max_bytes: int,
    data: str = "osv",
    optional: bool = False,
) -> tuple[SourceSpec | None, int]:
    """(spec of the downloaded file, bytes) or (None, 0) if the server says 304."""
    headers = {}
    if prev.get("kind") == "url":
        if prev.get("etag"):
            headers["If-None-Match"] = str(prev["etag"])
        if prev.get("last_modified"):
            headers["If-Modified-Since"] = str(prev["last_modified"])
    with client.stream("GET", url, headers=headers) as resp:
        code = resp.status_code
        if code == 304 and headers:
            return None, 0
        if code == 404 and optional:
            return None, -1
        if 300 <= code < 400:
            where = resp.headers.get("location", "?")
            raise DatabaseError(
                f"{url}: HTTP {code} redirect to {where}; hullscan does not "
                "follow redirects: point --source at the final location"
            )
        if code != 200:
            hint = (
                " (is the ecosystem name right? they are case-sensitive, e.g. PyPI)"
                if code == 404
                else ""
            )
            raise DatabaseError(f"{url}: HTTP {code} {resp.reason_phrase}{hint}")
        etag = resp.headers.get("etag")
        if etag and etag == prev.get("etag") and prev.get("kind") == "url":
            return None, 0  # a server that ignores If-None-Match: same entity, skip the body
        length = resp.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_bytes:
            raise DatabaseError(f"{url}: {length} bytes is more than the {max_bytes} allowed")
        fd, name = tempfile.mkstemp(prefix=f"{data}-", suffix=".download", dir=tmp_dir)
        temp_files.append(Path(name))
        n = 0
        with os.fdopen(fd, "wb") as f:
            for chunk in resp.iter_bytes(_CHUNK):
                n += len(chunk)
                if n > max_bytes:
                    raise DatabaseError(f"{url}: larger than the {max_bytes} bytes allowed")
                f.write(chunk)
    return SourceSpec(
        Path(name),
        url,
        "url",
        etag=etag,
        last_modified=resp.headers.get("last-modified"),
        data=data,
    ), n


def _mark_checked(dest: Path, when: str) -> None:
    """Nothing changed upstream: record that the data was confirmed current, in place
    (one tiny journaled transaction; readers never see a partial file)."""
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(dest, timeout=10, isolation_level=None)
        try:
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('checked_at', ?)", (json.dumps(when),)
            )
        finally:
            conn.close()
