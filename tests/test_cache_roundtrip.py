"""What the layer cache stores comes back exactly: ``LayerAnalysis`` (files, whiteouts,
packages, findings, facts) through ``to_dict``, JSON and ``from_dict``, for any values."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hullscan.analyzer import AnalyzerResult
from hullscan.cache import LayerCache
from hullscan.layers import LayerAnalysis
from hullscan.model import (
    FileInfo,
    FileType,
    Finding,
    FindingKind,
    License,
    Location,
    OSInfo,
    Package,
    Severity,
)

text = st.text(max_size=12)
paths = st.text(alphabet="abc/._-", min_size=1, max_size=16)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-9, 9) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)

packages = st.builds(
    Package,
    name=text,
    version=text,
    type=st.sampled_from(["deb", "pypi", "npm", "golang"]),
    purl=text,
    source_name=text,
    source_version=text,
    arch=text,
    licenses=st.lists(
        st.builds(License, text, st.text(min_size=1, max_size=12), text, text), max_size=2
    ).map(tuple),
    locations=st.lists(st.builds(Location, paths, st.none() | text), max_size=2).map(tuple),
    owner=text,
    found_by=text,
    metadata=st.dictionaries(text, json_values, max_size=2),
)
findings = st.builds(
    Finding,
    kind=st.sampled_from([k for k in FindingKind if k is not FindingKind.VULNERABILITY]),
    id=text,
    severity=st.sampled_from(list(Severity)),
    title=text,
    aliases=st.lists(text, max_size=2).map(tuple),
    path=st.none() | paths,
    line=st.none() | st.integers(1, 10_000),
    evidence=text,
    remediation=text,
    references=st.lists(text, max_size=2).map(tuple),
    description=text,
    standards=st.lists(text, max_size=2).map(tuple),
    details=st.dictionaries(text, json_values, max_size=3),
)
results = st.builds(
    AnalyzerResult,
    packages=st.lists(packages, max_size=2),
    os=st.none() | st.builds(OSInfo, id=text, version_id=text, codename=text),
    owned_files=st.dictionaries(text, st.lists(paths, max_size=2), max_size=2),
    findings=st.lists(findings, max_size=2),
    facts=st.dictionaries(text, json_values, max_size=2),
    warnings=st.lists(text, max_size=2),
)
files = st.builds(
    FileInfo,
    paths,
    st.sampled_from(list(FileType)),
    st.integers(0, 2**40),
    st.integers(0, 0o7777),
    st.integers(0, 65535),
    st.integers(0, 65535),
    text,
    st.integers(0, 2**33),
)
analyses = st.builds(
    LayerAnalysis,
    diff_id=st.none() | text,
    files=st.lists(files, max_size=3),
    whiteouts=st.lists(paths, max_size=2),
    opaque_dirs=st.lists(paths, max_size=2),
    results=st.dictionaries(paths, st.dictionaries(text, results, max_size=2), max_size=2),
    warnings=st.lists(text, max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(analyses)
def test_layer_analysis_round_trips_through_json(a: LayerAnalysis) -> None:
    back = LayerAnalysis.from_dict(json.loads(json.dumps(a.to_dict())))
    assert back == a
    assert back.to_dict() == a.to_dict()  # details and metadata are not part of ==


@settings(max_examples=25, deadline=None)
@given(analyses)
def test_layer_cache_gives_back_what_it_stored(tmp_path_factory: object, a: LayerAnalysis) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        cache = LayerCache(Path(d))
        try:
            cache.put("k", a)
            got = cache.get("k")
        finally:
            cache.close()
    assert got is not None and got.to_dict() == a.to_dict()
