#!/usr/bin/env bash
# Install the reference implementations tests/test_versions.py checks hullscan.versions against.
# Every piece is optional: a test whose reference is missing skips and says why.
#   dpkg (dpkg --compare-versions)      Debian base system
#   rpm.labelCompare                     python3-rpm, for the system /usr/bin/python3
#   Gem::Version                         ruby
#   PHP version_compare                  php-cli
#   Maven ComparableVersion              libmaven3-core-java (/usr/share/java/maven3-artifact.jar) + java
#   node-semver                          npm install --prefix build semver@7 (needs node/npm)
#   golang.org/x/mod/semver              build/refs/gosemver, built from the copy vendored in GOROOT
# Usage: bash scripts/test-references.sh   (from the repository root; apt-get needs root)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[[ -x /usr/bin/python3 ]] && ! /usr/bin/python3 -c 'import rpm' 2>/dev/null && need+=(python3-rpm)
command -v ruby >/dev/null 2>&1 || need+=(ruby)
command -v php >/dev/null 2>&1 || need+=(php-cli)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
ls /usr/share/java/maven3-artifact*.jar >/dev/null 2>&1 || need+=(libmaven3-core-java)
command -v npm >/dev/null 2>&1 || need+=(npm)
if (( ${#need[@]} )); then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq || echo "test-references: apt-get update failed" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
      || echo "test-references: apt-get install ${need[*]} failed (those reference tests skip)" >&2
  else
    echo "test-references: missing ${need[*]} (not root or no apt-get; those reference tests skip)" >&2
  fi
fi

mkdir -p build/refs
if command -v npm >/dev/null 2>&1 && [[ ! -f build/node_modules/semver/package.json ]]; then
  npm install --prefix build --no-audit --no-fund --silent semver@7 >/dev/null \
    || echo "test-references: npm install semver@7 failed (node-semver tests skip)" >&2
fi

# golang.org/x/mod/semver is vendored in every Go toolchain; a tiny driver compares pairs read
# from stdin ("a<TAB>b" per line) and prints one sign per line.
if command -v go >/dev/null 2>&1 && [[ ! -x build/refs/gosemver ]]; then
  src="$(go env GOROOT)/src/cmd/vendor/golang.org/x/mod/semver/semver.go"
  if [[ -f $src ]]; then
    d=build/refs/gosemver-src
    rm -rf "$d" && mkdir -p "$d/semver"
    cp "$src" "$d/semver/semver.go"
    printf 'module gosemverref\n\ngo 1.18\n' >"$d/go.mod"
    cat >"$d/main.go" <<'EOF'
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"gosemverref/semver"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		a, b, _ := strings.Cut(in.Text(), "\t")
		valid := 0
		if semver.IsValid(a) {
			valid |= 1
		}
		if semver.IsValid(b) {
			valid |= 2
		}
		fmt.Fprintf(out, "%d %d\n", semver.Compare(a, b), valid)
	}
}
EOF
    (cd "$d" && GOFLAGS=-mod=mod GOPROXY=off go build -o ../gosemver .) \
      || echo "test-references: building gosemver failed (Go reference tests skip)" >&2
  fi
fi
echo "test-references: done"
