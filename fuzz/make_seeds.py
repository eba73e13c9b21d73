"""Write the seed corpora in fuzz/seeds/ from real inputs (run once; the output is committed).

Every seed is a real file or one built with real tools: this machine's dpkg database,
installed Python distributions and npm packages, jars from the Maven cache, the rpm
fixtures (written by rpm itself), gcc-built ELF files, a go-built binary's build info,
pip's PE launcher, the test fixtures' Dockerfiles and OSV records, and images, signatures
and bundles made by hullscan's own writers. Seeds stay small: libFuzzer mutates them, and
the repository carries them.

    .venv/bin/python fuzz/make_seeds.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
SEEDS = FUZZ / "seeds"
sys.path[:0] = [str(ROOT / "tests"), str(FUZZ)]
os.environ["HULLSCAN_FUZZ_NO_INSTRUMENT"] = "1"  # importing harnesses for their seeds

MAX_SEED = 128 * 1024
Seeds = dict[str, bytes]


def put(harness: str, seeds: Seeds) -> None:
    d = SEEDS / harness
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    for name, data in seeds.items():
        assert len(data) <= MAX_SEED, (harness, name, len(data))
        (d / name).write_bytes(data)
    print(f"{harness}: {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes")


def paragraphs(text: str, n: int) -> str:
    return "\n\n".join(text.split("\n\n")[:n]) + "\n"


def dpkg() -> Seeds:
    from imagebuilder import DPKG_STATUS

    status = Path("/var/lib/dpkg/status").read_text()
    return {
        "status-host": b"\x01" + paragraphs(status, 12).encode(),
        "status-image": b"\x01" + DPKG_STATUS.encode(),
        "status.d-one": b"\x00" + paragraphs(status, 1).encode(),
    }


def apk() -> Seeds:
    # the Alpine database the tests use, written as apk writes it
    sys.path.insert(0, str(ROOT / "tests"))
    from test_inventory_os_packages import APK_INSTALLED

    return {"installed": APK_INSTALLED.encode()}


def rpm() -> Seeds:
    fixtures = ROOT / "tests" / "fixtures" / "rpm"
    return {
        "sqlite": b"\x00" + (fixtures / "rpmdb.sqlite").read_bytes(),
        "bdb": b"\x01" + (fixtures / "Packages").read_bytes(),
        "bdb-be": b"\x01" + (fixtures / "Packages-be").read_bytes(),
        "ndb": b"\x02" + (fixtures / "Packages.db").read_bytes(),
    }


def python() -> Seeds:
    import attrs
    import packaging

    out: Seeds = {}
    for mod in (attrs, packaging):
        site = Path(mod.__file__ or "").parent.parent
        for meta in sorted(site.glob(f"{mod.__name__}-*.dist-info/METADATA")):
            out[f"METADATA-{mod.__name__}"] = b"\x00" + meta.read_bytes()[:16384]
    out["PKG-INFO"] = (
        b"\x01" + b"Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\n"
        b"License: MIT\nClassifier: License :: OSI Approved :: MIT License\n"
    )
    return out


def node() -> Seeds:
    base = Path("/usr/lib/node_modules/npm")
    out: Seeds = {}
    for rel in (
        "node_modules/util-deprecate/package.json",
        "node_modules/libnpmpublish/package.json",
        "package.json",
    ):
        p = base / rel
        if p.exists():
            out[rel.replace("/", "_")] = p.read_bytes()[:32768]
    return out


def go() -> Seeds:
    """The head of a go-built binary and its build-info region, at the same alignment."""
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "go.mod").write_text("module example.com/hello\n\ngo 1.19\n")
        (Path(d) / "main.go").write_text('package main\n\nfunc main() { println("hi") }\n')
        subprocess.run(
            ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", "hello"],
            cwd=d,
            check=True,
            env={
                "HOME": d,
                "GOCACHE": f"{d}/cache",
                "GOFLAGS": "",
                "PATH": "/usr/bin:/bin",
                "GOTOOLCHAIN": "local",
            },
        )
        binary = (Path(d) / "hello").read_bytes()
    at = binary.index(b"\xff Go buildinf:")
    return {"hello-buildinfo": binary[:4096] + binary[at : at + 1024]}


def _gcc(d: Path, source: str, *flags: str) -> Path:
    (d / "x.c").write_text(source)
    out = d / "x"
    subprocess.run(["gcc", "-O1", "-s", *flags, "-o", str(out), str(d / "x.c")], check=True)
    return out


def rust() -> Seeds:
    """A gcc-built ELF with a cargo-auditable ``.dep-v0`` section, added as cargo-auditable
    does (zlib-compressed JSON)."""
    doc = {
        "packages": [
            {
                "name": "hello",
                "version": "0.1.0",
                "source": "local",
                "root": True,
                "dependencies": [1],
            },
            {"name": "memchr", "version": "2.6.4", "source": "crates.io"},
            {"name": "cc", "version": "1.0.83", "source": "crates.io", "kind": "build"},
        ]
    }
    with tempfile.TemporaryDirectory() as t:
        d = Path(t)
        exe = _gcc(d, "int main(void) { return 0; }\n")
        (d / "dep").write_bytes(zlib.compress(json.dumps(doc).encode()))
        subprocess.run(
            ["objcopy", "--add-section", f".dep-v0={d / 'dep'}", str(exe), str(d / "y")], check=True
        )
        return {"auditable": (d / "y").read_bytes()}


def java() -> Seeds:
    m2 = Path.home() / ".m2" / "repository"
    out: Seeds = {}
    for jar in (
        "javax/inject/javax.inject/1/javax.inject-1.jar",
        "net/jcip/jcip-annotations/1.0/jcip-annotations-1.0.jar",
    ):
        p = m2 / jar
        if p.exists() and p.stat().st_size <= MAX_SEED:
            out[p.name] = b"\x00" + p.read_bytes()
    if out:  # a fat jar: one real jar nested in another, stored as Spring Boot does
        import io
        import zipfile

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
            for name, data in out.items():
                z.writestr(f"BOOT-INF/lib/{name}", data[1:], zipfile.ZIP_STORED)
        out["nested.jar"] = b"\x00" + buf.getvalue()
    return out


def elf() -> Seeds:
    with tempfile.TemporaryDirectory() as t:
        d = Path(t)
        hardened = _gcc(
            d,
            '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n',
            "-fstack-protector-strong",
            "-D_FORTIFY_SOURCE=2",
            "-pie",
            "-fPIE",
            "-Wl,-z,relro,-z,now",
        ).read_bytes()
        weak = _gcc(
            d,
            "int main(void){return 0;}\n",
            "-no-pie",
            "-fno-stack-protector",
            "-Wl,-z,norelro",
            "-Wl,-rpath,/tmp/lib",
        ).read_bytes()
    return {"hardened": hardened, "weak": weak}


def pe() -> Seeds:
    import pip

    launcher = Path(pip.__file__).parent / "_vendor" / "distlib" / "t32.exe"
    return {"t32.exe": launcher.read_bytes()}


def dockerfile() -> Seeds:
    d = ROOT / "tests" / "fixtures" / "dockerfiles"
    return {p.name: p.read_bytes() for p in sorted(d.glob("*Dockerfile"))}


def osv() -> Seeds:
    d = ROOT / "tests" / "fixtures" / "osv"
    out: Seeds = {}
    for eco in sorted(p for p in d.iterdir() if p.is_dir()):
        for rec in sorted(eco.glob("*.json"))[:2]:
            if rec.stat().st_size <= 16384:
                out[f"{eco.name}-{rec.name}"] = rec.read_bytes()
    return out


def kev() -> Seeds:
    """CISA's catalog as published (a few entries of the snapshot, as formatted upstream),
    and the demo's five-entry catalog."""
    shared = Path(os.environ.get("HULLSCAN_SHARED", "/work/shared")) / "kev"
    doc = json.loads((shared / "known_exploited_vulnerabilities.json").read_text())
    known = [v for v in doc["vulnerabilities"] if v["knownRansomwareCampaignUse"] == "Known"]
    doc["vulnerabilities"] = doc["vulnerabilities"][:2] + known[:1]
    doc["count"] = len(doc["vulnerabilities"])
    demo = ROOT / "examples" / "demo" / "known_exploited_vulnerabilities.json"
    return {
        "catalog-excerpt.json": json.dumps(doc, indent=4).encode(),
        "demo.json": demo.read_bytes(),
    }


def epss() -> Seeds:
    """EPSS files in the shape FIRST publishes (comment line, header, rows), plain and
    gzipped (the harness' first byte), and the older shape without the comment line."""
    rows = (
        "CVE-1999-0001,0.0142,0.7991\nCVE-2021-44228,0.94358,0.99992\n"
        "CVE-2023-4911,0.78,0.98\nCVE-2024-12345,0.00043,0.1\n"
    )
    current = (
        "#model_version:v2025.03.14,score_date:2025-09-03T12:55:00Z\ncve,epss,percentile\n" + rows
    )
    return {
        "current.csv": b"\x00" + current.encode(),
        "current.csv.gz": b"\x01" + current.encode(),
        "crlf.csv.gz": b"\x01" + current.replace("\n", "\r\n").encode(),
        "no-comment.csv": b"\x00" + ("cve,epss,percentile\n" + rows).encode(),
    }


def admission() -> Seeds:
    """AdmissionReviews as the API server sends them (tests/admissionreviews.py), for each
    workload kind and operation; ``data[0]`` picks endpoint and policy (fuzz_admission)."""
    from admissionreviews import pod_spec, review, workload

    reg = "registry.example.com"
    clean, critical, kev, unscanned = (f"sha256:{c * 64}" for c in "148c")
    out: Seeds = {}

    def add(name: str, selector: int, doc: dict[str, Any]) -> None:
        doc["request"]["uid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, name))  # seeds stay put
        out[name] = bytes([selector]) + json.dumps(doc, separators=(",", ":")).encode()

    add(
        "pod-digests",
        0,
        review(
            workload(
                "Pod",
                pod_spec(
                    [f"{reg}/app@{clean}", f"{reg}/db:1@{critical}"],
                    init=[f"{reg}/init@{kev}"],
                    ephemeral=[f"{reg}/debug@{unscanned}"],
                ),
            )
        ),
    )
    add(
        "deployment-tags-mutate",
        1,
        review(workload("Deployment", pod_spec([f"{reg}/app:1", "nginx", f"{reg}/gone:gone"]))),
    )
    add(
        "cronjob-warn",
        2,
        review(workload("CronJob", pod_spec([f"{reg}/job:2@{critical}"])), "UPDATE"),
    )
    add("statefulset-resolve", 4, review(workload("StatefulSet", pod_spec(["busybox:1.36"]))))
    dry = review(workload("Job", pod_spec([f"{reg}/new@{unscanned}"])))
    dry["request"]["dryRun"] = True
    add("job-dry-run-scan", 6, dry)
    add(
        "daemonset-exempt",
        8,
        review(
            workload(
                "DaemonSet",
                pod_spec(["registry.k8s.io/pause:3.9", f"{reg}/agent:1"]),
                namespace="kube-system",
            )
        ),
    )
    delete = review(workload("ReplicaSet", pod_spec([f"{reg}/app:1"])), "DELETE")
    delete["request"]["object"] = None
    add("replicaset-delete", 10, delete)
    other = review(workload("Pod", pod_spec([f"{reg}/app@{clean}"])))
    other["request"]["kind"]["kind"] = "ConfigMap"
    add("configmap", 0, other)
    down = f"{reg}/app@sha256:{'e' * 64}"  # the store stub fails for this digest
    add("fail-open-store-down", 10, review(workload("Pod", pod_spec([down]))))
    add(
        "warn-many-containers",
        2,
        review(workload("Deployment", pod_spec([f"{reg}/app{i}:1" for i in range(24)]))),
    )
    add(
        "mutate-exempt-namespace",
        9,
        review(workload("Pod", pod_spec(["nginx:1"]), namespace="kube-system")),
    )
    return out


def image_json() -> Seeds:
    """Index, manifest and config of test images made by the tests' image builder."""
    from fuzz_image_json import frame

    from imagebuilder import build, debian_base, python_dist

    out: Seeds = {}
    for name, img in (
        ("debian", build([debian_base()])),
        ("two-layers", build([debian_base(), [python_dist("idna", "3.6")]], compression="zstd")),
    ):
        index = json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": img.manifest_digest,
                        "size": len(img.manifest),
                        "annotations": {"org.opencontainers.image.ref.name": "1"},
                    }
                ],
            }
        ).encode()
        out[name] = frame(index, img.manifest, img.config)
    return out


def layer() -> Seeds:
    from imagebuilder import compress, debian_base, layer_tar, opaque, python_dist, whiteout

    tar = layer_tar([*debian_base(), python_dist("requests", "2.31.0")])
    small = layer_tar([whiteout("etc/old.conf"), opaque("var/cache"), python_dist("idna", "3.6")])
    return {
        "tar": b"\x00" + tar,
        "gzip": b"\x00" + compress(small, "gzip"),
        "zstd": b"\x00" + compress(small, "zstd"),
        "whiteouts": b"\x00" + small,
    }


def signature() -> Seeds:
    from fuzz_signature import seeds

    return seeds()


def harbor() -> Seeds:
    from fuzz_harbor import seeds

    return seeds()


def registry() -> Seeds:
    from fuzz_registry import seeds

    return seeds()


MAKERS: dict[str, Callable[[], Seeds]] = {
    "dpkg": dpkg,
    "apk": apk,
    "rpm": rpm,
    "python": python,
    "node": node,
    "golang": go,
    "rust": rust,
    "java": java,
    "elf": elf,
    "pe": pe,
    "dockerfile": dockerfile,
    "osv": osv,
    "image_json": image_json,
    "layer": layer,
    "signature": signature,
    "registry": registry,
    "kev": kev,
    "epss": epss,
    "admission": admission,
    "harbor": harbor,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or MAKERS:
        put(name, MAKERS[name]())
