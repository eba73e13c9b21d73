"""Build the demo image (a docker archive) from the files in examples/demo/.

Usage: python examples/build_demo.py OUT.tar
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import imagebuilder as ib  # noqa: E402  (the one image builder, shared with the tests)

DEMO = HERE / "demo"

PYTHON_APP = {
    "Django": ("3.2", "BSD-3-Clause"),
    "requests": ("2.20.0", "Apache 2.0"),
    "urllib3": ("1.24.1", "MIT"),
    "PyYAML": ("5.3", "MIT"),
    "Jinja2": ("2.10", "BSD"),
}
NODE_APP = {
    "lodash": ("4.17.15", "MIT"),
    "minimist": ("1.2.0", "MIT"),
    "axios": ("0.21.0", "MIT"),
    "@babel/traverse": ("7.22.0", "MIT"),
}
#: a Rails 5.2.2 application's gems as bundler installed them in early 2019
RUBY_APP = {
    "actionview": ("5.2.2", "MIT"),
    "actionpack": ("5.2.2", "MIT"),
    "rack": ("2.0.6", "MIT"),
    "jquery-rails": ("4.3.3", "MIT"),
}


def base_layer() -> list[ib.Node]:
    nodes = [
        ib.file("usr/lib/os-release", (DEMO / "os-release").read_text()),
        ib.symlink("etc/os-release", "../usr/lib/os-release"),
        ib.file("etc/debian_version", "12.15\n"),
        ib.file("var/lib/dpkg/status", (DEMO / "dpkg-status").read_text()),
    ]
    return nodes


def python_layer() -> list[ib.Node]:
    site = "app/venv/lib/python3.11/site-packages"
    nodes = [
        ib.file("app/requirements.txt", "".join(f"{n}=={v}\n" for n, (v, _) in PYTHON_APP.items()))
    ]
    for name, (version, lic) in PYTHON_APP.items():
        meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: {lic}\n\n"
        nodes.append(ib.file(f"{site}/{name}-{version}.dist-info/METADATA", meta))
    return nodes


def node_layer() -> list[ib.Node]:
    nodes = [
        ib.file(
            "srv/web/package.json",
            json.dumps(
                {
                    "name": "web",
                    "version": "1.0.0",
                    "private": True,
                    "dependencies": {n: v for n, (v, _) in NODE_APP.items()},
                },
                indent=2,
            ),
        )
    ]
    for name, (version, lic) in NODE_APP.items():
        nodes.append(
            ib.file(
                f"srv/web/node_modules/{name}/package.json",
                json.dumps({"name": name, "version": version, "license": lic}),
            )
        )
    return nodes


def ruby_layer() -> list[ib.Node]:
    spec_dir = "usr/local/bundle/specifications"
    nodes = [
        ib.file(
            "srv/rails/Gemfile",
            "source 'https://rubygems.org'\n"
            + "".join(f"gem '{n}', '{v}'\n" for n, (v, _) in RUBY_APP.items()),
        )
    ]
    for name, (version, lic) in RUBY_APP.items():
        # the shape Gem::Specification#to_ruby writes on install
        spec = (
            f"# -*- encoding: utf-8 -*-\n# stub: {name} {version} ruby lib\n\n"
            f'Gem::Specification.new do |s|\n  s.name = "{name}".freeze\n'
            f'  s.version = "{version}"\n  s.licenses = ["{lic}".freeze]\nend\n'
        )
        nodes.append(ib.file(f"{spec_dir}/{name}-{version}.gemspec", spec))
    return nodes


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/demo-image.tar")
    out.parent.mkdir(parents=True, exist_ok=True)
    history = [
        {"created_by": "debootstrap --variant=minbase bookworm (main suite only)"},
        {"created_by": "/bin/sh -c pip install -r /app/requirements.txt"},
        {"created_by": "/bin/sh -c npm ci --omit=dev"},
        {"created_by": "/bin/sh -c bundle install --deployment"},
    ]
    image = ib.build(
        [base_layer(), python_layer(), node_layer(), ruby_layer()],
        history=history,
        config_extra={
            "config": {"Cmd": ["python3", "/app/app.py"], "ExposedPorts": {"8000/tcp": {}}}
        },
    )
    ib.write_docker_archive([(image, ["example/demo:latest"])], out)
    print(f"built {out} ({out.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
