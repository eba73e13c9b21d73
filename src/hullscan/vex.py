"""VEX input: OpenVEX and CycloneDX VEX documents, as statements the policy can apply.

A statement says, for some vulnerability ids and some products (purls; none = every
product), that they are ``not_affected``, ``affected``, ``fixed`` or
``under_investigation``. ``not_affected`` and ``fixed`` suppress a finding; the other
two keep it. When several statements apply to one finding, the latest wins
(timestamp, then document order), as OpenVEX specifies.

VEX files come from outside; a malformed one is one clear error line naming the file,
never a traceback and never a silently ignored statement.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from hullscan.errors import HullscanError
from hullscan.model import Finding

MAX_VEX_BYTES = 64 * 1024 * 1024
STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
SUPPRESSING = frozenset({"not_affected", "fixed"})
#: OpenVEX status justifications
OPENVEX_JUSTIFICATIONS = frozenset(
    {
        "component_not_present",
        "vulnerable_code_not_present",
        "vulnerable_code_not_in_execute_path",
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "inline_mitigations_already_exist",
    }
)
#: CycloneDX analysis.state → VEX status
CDX_STATES = {
    "not_affected": "not_affected",
    "false_positive": "not_affected",
    "resolved": "fixed",
    "resolved_with_pedigree": "fixed",
    "exploitable": "affected",
    "in_triage": "under_investigation",
}
#: purl types naming a whole image: a statement about one covers every package in it
IMAGE_PURL_TYPES = frozenset({"oci", "docker"})
_ID_IN_URL = re.compile(r"^[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9._:-]+$")


@dataclass(frozen=True)
class VexStatement:
    """One VEX statement. ``products`` are purls; empty means every product."""

    vulnerability_ids: frozenset[str]
    products: tuple[str, ...]
    status: str
    justification: str = ""
    detail: str = ""
    #: when the statement was made (timezone-aware), for "latest wins"; None if unknown
    timestamp: datetime | None = None
    #: the file it came from, for messages
    source: str = ""

    @property
    def suppresses(self) -> bool:
        return self.status in SUPPRESSING


# --- loading ---------------------------------------------------------------------------


class _Bad(Exception):
    """A problem inside a document; ``load_vex`` adds the file name."""


def load_vex(path: str | Path) -> list[VexStatement]:
    """The statements of an OpenVEX or CycloneDX VEX (JSON) file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_VEX_BYTES + 1)
    except OSError as e:
        raise HullscanError(f"{path}: cannot read VEX file ({e.strerror or e})") from None
    if len(raw) > MAX_VEX_BYTES:
        raise HullscanError(f"{path}: VEX file larger than {MAX_VEX_BYTES >> 20} MiB")
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise HullscanError(f"{path}: VEX file is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        if raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            raise HullscanError(
                f"{path}: XML VEX is not supported; use the JSON form of OpenVEX or CycloneDX"
            ) from None
        raise HullscanError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    try:
        if not isinstance(doc, dict):
            raise _Bad("expected a JSON object (an OpenVEX or CycloneDX VEX document)")
        context = doc.get("@context")
        if isinstance(context, str) and context.startswith("https://openvex.dev/ns"):
            return _openvex(doc, str(path))
        if doc.get("bomFormat") == "CycloneDX":
            return _cyclonedx(doc, str(path))
        raise _Bad(
            "not an OpenVEX document (@context https://openvex.dev/ns/...) "
            "nor a CycloneDX one (bomFormat CycloneDX)"
        )
    except _Bad as e:
        raise HullscanError(f"{path}: {e}") from None


def _str(value: Any, where: str, field: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _Bad(
            f"{where}: '{field}' must be a non-empty string"
            if required
            else f"{where}: '{field}' must be a string"
        )
    return value.strip()


def _list(value: Any, where: str, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"{where}: '{field}' must be a list")
    return value


def _time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{where}: 'timestamp' must be an RFC 3339 string")
    try:  # Python 3.11 reads RFC 3339, "Z" and nanoseconds included
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _Bad(f"{where}: timestamp {value!r} is not RFC 3339") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _is_image(purl: str) -> bool:
    parsed = _parse(purl)
    return parsed is not None and parsed.type in IMAGE_PURL_TYPES


def _openvex(doc: dict[str, Any], source: str) -> list[VexStatement]:
    doc_time = _time(doc.get("timestamp"), "document")
    statements = doc.get("statements")
    if not isinstance(statements, list):
        raise _Bad("OpenVEX document has no 'statements' list")
    return [
        _openvex_statement(s, f"statement {i}", doc_time, source)
        for i, s in enumerate(statements, 1)
    ]


def _openvex_ids(vuln: Any, where: str) -> set[str]:
    if isinstance(vuln, str):  # OpenVEX v0.0.x: the id itself
        return {_str(vuln, where, "vulnerability", required=True)}
    if not isinstance(vuln, dict):
        raise _Bad(f"{where}: 'vulnerability' must be an object with a 'name'")
    ids = {_str(vuln.get("name"), where, "vulnerability.name", required=True)}
    for alias in _list(vuln.get("aliases"), where, "vulnerability.aliases"):
        ids.add(_str(alias, where, "vulnerability.aliases[]", required=True))
    iri = _str(vuln.get("@id"), where, "vulnerability.@id")
    if iri:  # https://nvd.nist.gov/vuln/detail/CVE-… names the id too
        last = iri.rstrip("/").rsplit("/", 1)[-1]
        if _ID_IN_URL.match(last):
            ids.add(last)
    return ids


def _openvex_products(products: list[Any], where: str) -> tuple[str, ...]:
    """Package purls the statement covers; () when it covers a whole image (or anything)."""
    out: list[str] = []
    whole = not products
    for n, product in enumerate(products, 1):
        if isinstance(product, str):  # OpenVEX v0.0.x
            purl, subs = product.strip(), []
        elif isinstance(product, dict):
            purl = _str(product.get("@id"), where, f"products[{n}].@id")
            ids = product.get("identifiers")
            if isinstance(ids, dict) and isinstance(ids.get("purl"), str):
                purl = ids["purl"].strip() if not purl.startswith("pkg:") else purl
            subs = _list(product.get("subcomponents"), where, f"products[{n}].subcomponents")
        else:
            raise _Bad(f"{where}: products[{n}] must be an object with an '@id'")
        sub_purls = []
        for m, sub in enumerate(subs, 1):
            if isinstance(sub, str):
                sub_purls.append(sub.strip())
            elif isinstance(sub, dict):
                sid = _str(sub.get("@id"), where, f"products[{n}].subcomponents[{m}].@id")
                sids = sub.get("identifiers")
                if (
                    not sid.startswith("pkg:")
                    and isinstance(sids, dict)
                    and isinstance(sids.get("purl"), str)
                ):
                    sid = sids["purl"].strip()
                if sid:
                    sub_purls.append(sid)
            else:
                raise _Bad(f"{where}: products[{n}].subcomponents[{m}] must be an object")
        if sub_purls:
            out += sub_purls
        elif not purl:
            raise _Bad(f"{where}: products[{n}] has no '@id'")
        elif _is_image(purl):
            whole = True  # the image itself: every package in it
        else:
            out.append(purl)
    return () if whole else tuple(dict.fromkeys(out))


def _openvex_statement(s: Any, where: str, doc_time: datetime | None, source: str) -> VexStatement:
    if not isinstance(s, dict):
        raise _Bad(f"{where}: must be an object")
    ids = _openvex_ids(s.get("vulnerability"), where)
    status = _str(s.get("status"), where, "status", required=True)
    if status not in STATUSES:
        raise _Bad(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}")
    justification = _str(s.get("justification"), where, "justification")
    if justification and justification not in OPENVEX_JUSTIFICATIONS:
        raise _Bad(
            f"{where}: justification {justification!r} is not one of "
            f"{', '.join(sorted(OPENVEX_JUSTIFICATIONS))}"
        )
    detail = _str(s.get("impact_statement"), where, "impact_statement")
    if status == "not_affected" and not (justification or detail):
        raise _Bad(
            f"{where}: a not_affected statement needs a 'justification' or an 'impact_statement'"
        )
    if status in ("affected", "under_investigation"):
        detail = detail or _str(s.get("action_statement"), where, "action_statement")
    products = _openvex_products(_list(s.get("products"), where, "products"), where)
    when = _time(s.get("timestamp"), where) or doc_time
    return VexStatement(frozenset(ids), products, status, justification, detail, when, source)


def _cdx_components(doc: dict[str, Any]) -> dict[str, str]:
    """bom-ref → purl for every component the document lists (nested ones too)."""
    refs: dict[str, str] = {}
    meta = doc.get("metadata")
    stack = [meta.get("component")] if isinstance(meta, dict) else []
    comps = doc.get("components")
    stack += comps if isinstance(comps, list) else []
    while stack:
        c = stack.pop()
        if not isinstance(c, dict):
            continue
        ref, purl = c.get("bom-ref"), c.get("purl")
        if isinstance(ref, str) and isinstance(purl, str):
            refs[ref] = purl
        nested = c.get("components")
        stack += nested if isinstance(nested, list) else []
    return refs


def _cdx_ref(ref: str, components: dict[str, str]) -> str:
    """A purl for an ``affects`` ref: a purl, a bom-ref of this document, or a BOM-Link
    (``urn:cdx:serial/version#bom-ref``) whose bom-ref is hullscan's own purl#path form."""
    if ref.startswith("urn:cdx:") and "#" in ref:
        ref = ref.split("#", 1)[1]
    if ref in components:
        return components[ref]
    return ref  # a purl, or an unknown bom-ref that can match nothing


def _cyclonedx(doc: dict[str, Any], source: str) -> list[VexStatement]:
    vulns = doc.get("vulnerabilities")
    if vulns is None:
        raise _Bad("CycloneDX document has no 'vulnerabilities' (not a VEX)")
    if not isinstance(vulns, list):
        raise _Bad("'vulnerabilities' must be a list")
    components = _cdx_components(doc)
    meta = doc.get("metadata")
    doc_time = _time(meta.get("timestamp"), "metadata") if isinstance(meta, dict) else None
    out = []
    for i, v in enumerate(vulns, 1):
        where = f"vulnerabilities[{i}]"
        if not isinstance(v, dict):
            raise _Bad(f"{where}: must be an object")
        analysis = v.get("analysis")
        if analysis is None:
            continue  # a vulnerability report entry, not a VEX statement
        if not isinstance(analysis, dict):
            raise _Bad(f"{where}: 'analysis' must be an object")
        vid = _str(v.get("id"), where, "id", required=True)
        ids = {vid}
        for n, r in enumerate(_list(v.get("references"), where, "references"), 1):
            if not isinstance(r, dict):
                raise _Bad(f"{where}: references[{n}] must be an object with an 'id'")
            ids.add(_str(r.get("id"), where, f"references[{n}].id", required=True))
        state = _str(analysis.get("state"), where, "analysis.state", required=True)
        if state not in CDX_STATES:
            raise _Bad(f"{where}: analysis.state {state!r} is not one of {', '.join(CDX_STATES)}")
        justification = _str(analysis.get("justification"), where, "analysis.justification")
        if state == "false_positive":
            justification = justification or "false_positive"
        detail = _str(analysis.get("detail"), where, "analysis.detail")
        products: list[str] = []
        whole = False
        for n, a in enumerate(_list(v.get("affects"), where, "affects"), 1):
            if not isinstance(a, dict):
                raise _Bad(f"{where}: affects[{n}] must be an object with a 'ref'")
            purl = _cdx_ref(
                _str(a.get("ref"), where, f"affects[{n}].ref", required=True), components
            )
            if _is_image(purl):
                whole = True
            else:
                products.append(purl)
        when = (
            _time(
                analysis.get("lastUpdated") or analysis.get("firstIssued") or v.get("updated"),
                where,
            )
            or doc_time
        )
        out.append(
            VexStatement(
                frozenset(ids),
                () if whole else tuple(dict.fromkeys(products)),
                CDX_STATES[state],
                justification,
                detail,
                when,
                source,
            )
        )
    return out


# --- matching --------------------------------------------------------------------------


def _parse(purl: str) -> PackageURL | None:
    if not purl.startswith("pkg:"):
        return None
    try:
        return PackageURL.from_string(purl)
    except ValueError:
        return None


def _norm_name(p: PackageURL) -> tuple[str, str]:
    namespace, name = p.namespace or "", p.name
    if p.type == "pypi":  # PEP 503
        name = re.sub(r"[-_.]+", "-", name).lower()
    if p.type in ("deb", "apk", "npm", "pypi", "golang", "github", "bitbucket"):
        namespace, name = namespace.lower(), name.lower()
    return namespace, name


def purl_matches(statement_purl: str, package_purl: str) -> bool:
    """Does a statement's purl cover a package's? Without a version it covers every
    version; without qualifiers, every qualifier set; its qualifiers must all be present
    in the package's. The subpath is ignored (hullscan's own bom-refs put a path there)."""
    if statement_purl == package_purl:
        return True
    s, p = _parse(statement_purl), _parse(package_purl)
    if s is None or p is None:
        return False
    if s.type != p.type or _norm_name(s) != _norm_name(p):
        return False
    if s.version and s.version != p.version:
        return False
    s_q = s.qualifiers if isinstance(s.qualifiers, dict) else {}
    p_q = p.qualifiers if isinstance(p.qualifiers, dict) else {}
    return all(p_q.get(k) == v for k, v in s_q.items())


def _applies(statement: VexStatement, finding: Finding, ids: set[str]) -> bool:
    if not ids & {i.casefold() for i in statement.vulnerability_ids}:
        return False
    if not statement.products:
        return True
    if finding.package is None or not finding.package.purl:
        return False
    return any(purl_matches(p, finding.package.purl) for p in statement.products)


def vex_suppresses(statements: Iterable[VexStatement], finding: Finding) -> VexStatement | None:
    """The statement that suppresses ``finding``, if the latest one applying to it does."""
    ids = {i.casefold() for i in finding.all_ids}
    applying = [(n, s) for n, s in enumerate(statements) if _applies(s, finding, ids)]
    if not applying:
        return None
    oldest = datetime.min.replace(tzinfo=UTC)
    _, latest = max(applying, key=lambda ns: (ns[1].timestamp or oldest, ns[0]))
    return latest if latest.suppresses else None
