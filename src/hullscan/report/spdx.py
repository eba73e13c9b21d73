"""SPDX 2.3 JSON for an ``Inventory``, written by hand as a plain dict.

No spdx-tools dependency: the document is small and the official JSON schema
(tests/schemas/spdx-2.3.schema.json) checks it in the tests.

The helpers shared with the CycloneDX reporter (image purl, document UUID) live here
because this module imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from packageurl import PackageURL

from hullscan import __version__
from hullscan.licenses import combined
from hullscan.model import ImageMeta, Inventory, License, Location, OSInfo, Package

NOASSERTION = "NOASSERTION"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
IMAGE_ID = "SPDXRef-Image"
OS_ID = "SPDXRef-OperatingSystem"
#: ``.invalid`` (RFC 2606) so that the namespace can never resolve to somebody's server
NAMESPACE_BASE = "https://hullscan.invalid/spdx"

_SHA256_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+")
_NOT_ID_CHARS = re.compile(r"[^A-Za-z0-9.-]+")
_TRANSPORTS = ("docker-archive:", "oci-archive:", "oci:", "dir:", "registry:", "docker:")


# --- shared with report.cyclonedx -------------------------------------------------------


def image_purl(image: ImageMeta) -> str | None:
    """``pkg:oci/NAME@sha256%3A...`` for an image whose manifest digest is known.

    Per the purl spec's oci type: the name is the last path component of the
    repository, the version the manifest digest (with ``:`` percent-encoded, as
    in the spec's examples), and ``repository_url``/``tag``/``arch`` qualifiers.
    """
    if not image.digest:
        return None
    repo, tag = "", ""
    if image.repo_tags:
        first = image.repo_tags[0]
        if "/" in first or ":" in first:
            repo, tag = _split_reference(first)
        elif image.transport.startswith("oci"):
            tag = first  # an OCI ref.name annotation is often just a tag ("latest")
        else:
            repo = first
    name = (repo.rsplit("/", 1)[-1] if repo else _name_from_ref(image.ref)).lower()
    quals = {"repository_url": repo.lower(), "tag": tag}
    parts = image.platform.split("/")
    if len(parts) >= 2:
        quals["arch"] = parts[1]
    purl = PackageURL(
        type="oci",
        name=name or "image",
        version=image.digest,
        qualifiers={k: v for k, v in quals.items() if v} or None,
    ).to_string()
    # packageurl-python leaves ':' in versions as is; the spec's oci examples encode it
    return str(purl).replace(f"@{image.digest}", f"@{quote(image.digest, safe='')}", 1)


def document_uuid(inv: Inventory, fmt: str) -> uuid.UUID:
    """A UUID that depends only on the format, the hullscan version and the inventory.

    So an SBOM of the same image by the same hullscan has the same serial number /
    namespace, and any change to what was found gives a new one.
    """
    content = {
        "format": fmt,
        "tool": __version__,
        "image": [
            inv.image.ref,
            inv.image.digest,
            inv.image.config_digest,
            list(inv.image.repo_tags),
            inv.image.platform,
        ],
        "os": inv.os.to_dict() if inv.os else None,
        "packages": [p.to_dict() for p in inv.packages],
    }
    blob = json.dumps(content, sort_keys=True, default=str).encode()
    return uuid.uuid5(
        uuid.NAMESPACE_URL, f"{NAMESPACE_BASE}/{fmt}/{hashlib.sha256(blob).hexdigest()}"
    )


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def is_application(pkg: Package) -> bool:
    """The main module of a binary is the application; everything else is a library."""
    return bool(pkg.metadata.get("main_module"))


def _split_reference(ref: str) -> tuple[str, str]:
    """``host:5000/a/b:tag`` → (``host:5000/a/b``, ``tag``); a digest suffix is dropped."""
    ref = ref.split("@", 1)[0]
    colon = ref.rfind(":")
    if colon > ref.rfind("/"):
        return ref[:colon], ref[colon + 1 :]
    return ref, ""


def _name_from_ref(ref: str) -> str:
    """A purl name when no repository is known: the archive or directory's base name."""
    for prefix in _TRANSPORTS:
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
            break
    base = ref.rstrip("/").rsplit("/", 1)[-1].split(":", 1)[0]
    for ext in (".tar.gz", ".tgz", ".tar", ".oci"):
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    return re.sub(r"[^a-z0-9._-]+", "-", base.lower()).strip("-.")


# --- SPDX --------------------------------------------------------------------------------


def _spdx_id(kind: str, label: str, key: str, used: set[str]) -> str:
    """``SPDXRef-<kind>-<label>-<hash>``: only letters, digits, '.' and '-' (SPDX 2.3 §7.2).

    The hash of ``key`` (purl + locations) keeps ids stable across runs; a counter
    settles the (unlikely) case of two identical keys.
    """
    clean = _NOT_ID_CHARS.sub("-", label).strip("-")[:80] or "unnamed"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    base = f"SPDXRef-{kind}-{clean}-{digest}"
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base}-{n}"
    used.add(candidate)
    return candidate


def _source_info(pkg: Package) -> str:
    finder = pkg.found_by or "hullscan"
    if not pkg.locations:
        return f"acquired package info from {finder}"
    return f"acquired package info from {finder}: " + ", ".join(
        _where(loc) for loc in pkg.locations
    )


def _where(loc: Location) -> str:
    return f"/{loc.path} (layer {loc.layer})" if loc.layer else f"/{loc.path}"


def _license_fields(licenses: tuple[License, ...]) -> dict[str, str]:
    """licenseDeclared: what the package's metadata states, as one expression (AND of
    every licence found). licenseConcluded stays NOASSERTION: hullscan reads declarations,
    it does not review the code, which is what the spec asks of a conclusion."""
    if not licenses:
        return {"licenseConcluded": NOASSERTION, "licenseDeclared": NOASSERTION}
    fields = {"licenseConcluded": NOASSERTION, "licenseDeclared": combined(licenses)}
    sources = sorted({f"{lic.source} {lic.path}".strip() for lic in licenses})
    fields["licenseComments"] = "declared in: " + "; ".join(sources)
    return fields


def _extracted_licenses(packages: tuple[Package, ...]) -> list[dict[str, Any]]:
    """Every LicenseRef used, defined as SPDX requires, with the text it stands for."""
    refs: dict[str, str] = {}
    for p in packages:
        for lic in p.licenses:
            for ref in _LICENSE_REF.findall(lic.expression):
                if lic.expression == ref and lic.value:
                    refs[ref] = lic.value  # the licence as written
                else:
                    refs.setdefault(ref, ref.removeprefix("LicenseRef-"))
    return [
        {"licenseId": ref, "name": text, "extractedText": text}
        for ref, text in sorted(refs.items())
    ]


def _purpose(pkg: Package) -> str:
    return "APPLICATION" if is_application(pkg) else "LIBRARY"


def _package(pkg: Package, spdx_id: str) -> dict[str, Any]:
    d: dict[str, Any] = {"name": pkg.name, "SPDXID": spdx_id}
    if pkg.version:
        d["versionInfo"] = pkg.version
    d.update(
        {
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": False,
            "sourceInfo": _source_info(pkg),
            **_license_fields(pkg.licenses),
            "copyrightText": NOASSERTION,
        }
    )
    if pkg.source_name and (pkg.source_name, pkg.source_version) != (pkg.name, pkg.version):
        d["comment"] = f"source package: {pkg.source_name} {pkg.source_version}".rstrip()
    if pkg.purl:
        d["externalRefs"] = [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": pkg.purl,
            }
        ]
    d["primaryPackagePurpose"] = _purpose(pkg)
    return d


def _image_package(image: ImageMeta) -> dict[str, Any]:
    d: dict[str, Any] = {"name": image.name, "SPDXID": IMAGE_ID}
    version = image.digest or image.config_digest
    if version:
        d["versionInfo"] = version
    d.update({"downloadLocation": NOASSERTION, "filesAnalyzed": False})
    if image.digest and (m := _SHA256_DIGEST.fullmatch(image.digest)):
        # the manifest digest is the SHA-256 of the manifest, the image's identity
        d["checksums"] = [{"algorithm": "SHA256", "checksumValue": m[1]}]
    d.update(
        {
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": NOASSERTION,
            "copyrightText": NOASSERTION,
        }
    )
    facts = [f"ref {image.ref}"]
    if image.config_digest:
        facts.append(f"config {image.config_digest}")
    if image.platform:
        facts.append(f"platform {image.platform}")
    d["comment"] = "; ".join(facts)
    if purl := image_purl(image):
        d["externalRefs"] = [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl,
            }
        ]
    d["primaryPackagePurpose"] = "CONTAINER"
    return d


def _os_package(os_info: OSInfo) -> dict[str, Any]:
    d: dict[str, Any] = {"name": os_info.id, "SPDXID": OS_ID}
    if os_info.version_id:
        d["versionInfo"] = os_info.version_id
    d.update(
        {
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": False,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": NOASSERTION,
            "copyrightText": NOASSERTION,
        }
    )
    if os_info.pretty_name:
        d["description"] = os_info.pretty_name
    d["primaryPackagePurpose"] = "OPERATING_SYSTEM"
    return d


def _namespace_label(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:100] or "image"


def spdx_dict(inv: Inventory, *, now: datetime | None = None) -> dict[str, Any]:
    """The SPDX 2.3 document as a dict; ``now`` pins ``created`` (for tests)."""
    created = (now or utc_now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc_uuid = document_uuid(inv, "spdx-2.3")
    packages = [_image_package(inv.image)]
    relationships = [
        {
            "spdxElementId": DOCUMENT_ID,
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": IMAGE_ID,
        }
    ]
    if inv.os:
        packages.append(_os_package(inv.os))
        relationships.append(
            {"spdxElementId": IMAGE_ID, "relationshipType": "CONTAINS", "relatedSpdxElement": OS_ID}
        )
    used = {DOCUMENT_ID, IMAGE_ID, OS_ID}
    for pkg in inv.packages:
        key = "\n".join(
            [
                pkg.purl or f"{pkg.type}/{pkg.name}@{pkg.version}",
                *(f"{loc.layer}:{loc.path}" for loc in pkg.locations),
            ]
        )
        spdx_id = _spdx_id(f"Package-{pkg.type or 'unknown'}", pkg.name, key, used)
        packages.append(_package(pkg, spdx_id))
        relationships.append(
            {
                "spdxElementId": IMAGE_ID,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": spdx_id,
            }
        )
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": DOCUMENT_ID,
        "name": inv.image.name,
        "documentNamespace": f"{NAMESPACE_BASE}/{_namespace_label(inv.image.name)}-{doc_uuid}",
        "creationInfo": {"created": created, "creators": [f"Tool: hullscan-{__version__}"]},
        # deprecated in 2.3 but still read by older consumers; the DESCRIBES
        # relationship below says the same
        "documentDescribes": [IMAGE_ID],
        "packages": packages,
        "relationships": relationships,
        **(
            {"hasExtractedLicensingInfos": extracted}
            if (extracted := _extracted_licenses(inv.packages))
            else {}
        ),
    }


def render_spdx(inv: Inventory, *, now: datetime | None = None) -> str:
    return json.dumps(spdx_dict(inv, now=now), indent=2, ensure_ascii=False) + "\n"
