"""Fuzz OSV records: parsing and validation, then range evaluation with the record's own
versions (every bound is also tried as the installed version), as the matcher does."""

from __future__ import annotations

from functools import partial

from contract import check_bounded, expect, instrumented, main

with instrumented():
    from hullscan.versions import InvalidVersion, UnsupportedEcosystem, scheme
    from hullscan.vuln.ranges import evaluate
    from hullscan.vulndb.osv import MalformedAdvisory, parse_advisory

#: range evaluations per input, so a record with thousands of events stays a quick input
MAX_EVALUATIONS = 200


def test_one_input(data: bytes) -> None:
    adv = expect(lambda: parse_advisory(data), (MalformedAdvisory,))
    if adv is None:
        return
    check_bounded(len(adv.affected), len(data), "affected entries")
    budget = MAX_EVALUATIONS
    for entry in adv.affected:
        try:
            scheme(entry.ecosystem)
        except UnsupportedEcosystem:
            continue
        for r in entry.ranges:
            if r.type not in ("ECOSYSTEM", "SEMVER"):
                continue
            events = [(e.kind, e.value) for e in r.events]
            for _, version in events:
                if budget <= 0:
                    return
                budget -= 1
                hit = expect(partial(evaluate, entry.ecosystem, version, events), (InvalidVersion,))
                if hit is not None and hit.fixed and hit.fixed not in {v for _, v in events}:
                    raise AssertionError(f"fix {hit.fixed!r} is not one of the range's events")


if __name__ == "__main__":
    main(test_one_input)
