# ruff: noqa: E501 - the gemspec fixtures are verbatim RubyGems output, long lines included
from __future__ import annotations

import io

import pytest

from hullscan.analyzer import AnalyzerInputError, AnalyzerResult
from hullscan.inventory.ruby import GemspecAnalyzer, parse_gemspec
from hullscan.model import FileInfo, FileType

# as written by RubyGems 3.4 (`gem install rack -v 2.2.8`)
RACK = """# -*- encoding: utf-8 -*-
# stub: rack 2.2.8 ruby lib

Gem::Specification.new do |s|
  s.name = "rack".freeze
  s.version = "2.2.8"

  s.required_rubygems_version = Gem::Requirement.new(">= 0".freeze) if s.respond_to? :required_rubygems_version=
  s.metadata = { "bug_tracker_uri" => "https://github.com/rack/rack/issues", "changelog_uri" => "https://github.com/rack/rack/blob/master/CHANGELOG.md", "documentation_uri" => "https://rubydoc.info/github/rack/rack", "source_code_uri" => "https://github.com/rack/rack" } if s.respond_to? :metadata=
  s.require_paths = ["lib".freeze]
  s.authors = ["Leah Neukirchen".freeze]
  s.bindir = "bin".freeze
  s.date = "2023-07-31"
  s.description = "Rack provides a minimal, modular and adaptable interface for developing\\nweb applications in Ruby. By wrapping HTTP requests and responses in\\nthe simplest way possible, it unifies and distills the API for web\\nservers, web frameworks, and software in between (the so-called\\nmiddleware) into a single method call.\\n".freeze
  s.email = "leah@vuxu.org".freeze
  s.executables = ["rackup".freeze]
  s.extra_rdoc_files = ["README.rdoc".freeze, "CHANGELOG.md".freeze, "CONTRIBUTING.md".freeze]
  s.files = ["CHANGELOG.md".freeze, "CONTRIBUTING.md".freeze, "MIT-LICENSE".freeze, "README.rdoc".freeze, "bin/rackup".freeze]
  s.homepage = "https://github.com/rack/rack".freeze
  s.licenses = ["MIT".freeze]
  s.required_ruby_version = Gem::Requirement.new(">= 2.3.0".freeze)
  s.rubygems_version = "3.4.10".freeze
  s.summary = "A modular Ruby webserver interface.".freeze

  s.installed_by_version = "3.4.10" if s.respond_to? :installed_by_version

  if s.respond_to? :specification_version then
    s.specification_version = 4
  end

  if s.respond_to? :add_runtime_dependency then
    s.add_development_dependency(%q<minitest>.freeze, ["~> 5.0"])
    s.add_development_dependency(%q<minitest-sprint>.freeze, [">= 0"])
    s.add_development_dependency(%q<rake>.freeze, [">= 0"])
  else
    s.add_dependency(%q<minitest>.freeze, ["~> 5.0"])
  end
end
"""

NOKOGIRI = """# -*- encoding: utf-8 -*-
# stub: nokogiri 1.15.4 x86_64-linux lib

Gem::Specification.new do |s|
  s.name = "nokogiri".freeze
  s.version = "1.15.4"
  s.platform = "x86_64-linux".freeze

  s.required_rubygems_version = Gem::Requirement.new(">= 0".freeze) if s.respond_to? :required_rubygems_version=
  s.require_paths = ["lib".freeze]
  s.licenses = ["MIT".freeze, "BSD-2-Clause".freeze]
  s.summary = "Nokogiri (\\u92F8) makes it easy and painless to work with XML and HTML from Ruby.".freeze

  s.add_runtime_dependency(%q<racc>.freeze, ["~> 1.4"])
end
"""

# RubyGems 1.3-era spec
OLD_STYLE = """# -*- encoding: utf-8 -*-

Gem::Specification.new do |spec|
  spec.name = %q{rake}
  spec.version = Gem::Version.new("0.8.7")
  spec.license = 'MIT'
  spec.required_rubygems_version = Gem::Requirement.new(">= 0") if spec.respond_to? :required_rubygems_version=
  spec.summary = %q{Ruby based make-like utility.}
end
"""

# a default gem shipped with Ruby 3.2
DEFAULT_URI = """# -*- encoding: utf-8 -*-
# stub: uri 0.12.1 ruby lib

Gem::Specification.new do |s|
  s.name = "uri".freeze
  s.version = "0.12.1"

  s.require_paths = ["lib".freeze]
  s.licenses = ["Ruby".freeze, "BSD-2-Clause".freeze]
  s.summary = "URI is a module providing classes to handle Uniform Resource Identifiers".freeze
end
"""


def run(path: str, text: str | bytes) -> AnalyzerResult | None:
    data = text.encode() if isinstance(text, str) else text
    a = GemspecAnalyzer()
    info = FileInfo(path, FileType.REG, size=len(data), mode=0o644)
    assert a.required(path, info)
    return a.analyze(path, info, io.BytesIO(data))


def test_required() -> None:
    a = GemspecAnalyzer()
    reg = FileInfo("x", FileType.REG, size=100)
    assert a.required("usr/local/bundle/specifications/rack-2.2.8.gemspec", reg)
    assert a.required(
        "usr/local/lib/ruby/gems/3.2.0/specifications/default/uri-0.12.1.gemspec", reg
    )
    assert a.required("specifications/x-1.gemspec", reg)
    # a gem's own source gemspec, not an installed spec
    assert not a.required("usr/local/bundle/gems/rack-2.2.8/rack.gemspec", reg)
    assert not a.required("app/default/x.gemspec", reg)
    assert not a.required("usr/specifications/.gemspec", reg)
    assert not a.required(
        "usr/specifications/rack-2.2.8.gemspec", FileInfo("x", FileType.SYMLINK, linkname="y")
    )


def test_installed_gemspec() -> None:
    result = run("usr/local/bundle/specifications/rack-2.2.8.gemspec", RACK)
    assert result is not None and len(result.packages) == 1
    pkg = result.packages[0]
    assert (pkg.name, pkg.version, pkg.type) == ("rack", "2.2.8", "gem")
    assert pkg.purl == "pkg:gem/rack@2.2.8"
    assert tuple(x.value for x in pkg.licenses) == ("MIT",)
    assert pkg.found_by == "ruby-gemspec"
    assert pkg.locations == ()
    assert pkg.metadata == {}


def test_platform_gem_with_several_licenses() -> None:
    result = run("var/lib/gems/3.1.0/specifications/nokogiri-1.15.4-x86_64-linux.gemspec", NOKOGIRI)
    assert result is not None
    pkg = result.packages[0]
    assert pkg.purl == "pkg:gem/nokogiri@1.15.4"
    assert tuple(x.value for x in pkg.licenses) == ("MIT", "BSD-2-Clause")
    assert pkg.metadata == {"platform": "x86_64-linux"}


def test_old_style_gemspec() -> None:
    result = run("usr/lib/ruby/gems/1.8/specifications/rake-0.8.7.gemspec", OLD_STYLE)
    assert result is not None
    pkg = result.packages[0]
    assert (pkg.name, pkg.version, tuple(x.value for x in pkg.licenses)) == (
        "rake",
        "0.8.7",
        ("MIT",),
    )


def test_default_gem() -> None:
    result = run(
        "usr/local/lib/ruby/gems/3.2.0/specifications/default/uri-0.12.1.gemspec", DEFAULT_URI
    )
    assert result is not None
    pkg = result.packages[0]
    assert pkg.purl == "pkg:gem/uri@0.12.1"
    assert tuple(x.value for x in pkg.licenses) == ("Ruby", "BSD-2-Clause")
    assert pkg.metadata == {"default_gem": True}


def test_stub_line_is_a_fallback() -> None:
    text = "# stub: json 2.6.3 ruby lib\nGem::Specification.new do |s|\n  s.version = 2\nend\n"
    assert parse_gemspec(text)[:2] == ("json", "2.6.3")


def test_non_utf8_description_is_tolerated() -> None:
    data = RACK.replace("Leah Neukirchen", "L\xe9ah").encode("latin-1")
    result = run("specifications/rack-2.2.8.gemspec", data)
    assert result is not None and result.packages[0].name == "rack"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Gem::Specification.new do |s|\n  s.summary = 'nothing else'\nend\n",
        'Gem::Specification.new do |s|\n  s.name = "x".freeze\nend\n',
        b"\x7fELF\x02\x01\x01\0\0\0\0\0",
        "\n" * 200_000,
    ],
)
def test_malformed(text: str | bytes) -> None:
    with pytest.raises(AnalyzerInputError):
        run("specifications/x-1.0.gemspec", text)


def test_oversized() -> None:
    data = RACK + "#" * GemspecAnalyzer.max_size
    with pytest.raises(AnalyzerInputError, match="larger"):
        run("specifications/rack-2.2.8.gemspec", data)
