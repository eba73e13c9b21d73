# hullscan — the two commands of the README's quick start, and the pieces behind them.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
CORPUS ?= $(HOME)/.cache/hullscan-corpus
PEERS  ?= $(HOME)/.cache/hullscan-peers
# The workplace's shared test material (corpus script, advisories, peers): ../shared beside
# this checkout, else beside the repository it was cloned from, or $HULLSCAN_SHARED.
ORIGIN := $(shell git remote get-url origin 2>/dev/null)
SHARED ?= $(firstword $(wildcard $(HULLSCAN_SHARED)) $(wildcard ../shared) \
            $(if $(filter /%,$(ORIGIN)),$(wildcard $(dir $(abspath $(ORIGIN)))shared)))
ifneq ($(SHARED),)
export HULLSCAN_SHARED := $(abspath $(SHARED))
endif
NEEDS_SHARED = @test -n "$(SHARED)" || { echo "no shared/ test material: put it beside this \
checkout or set HULLSCAN_SHARED" >&2; exit 2; }

.PHONY: demo test check lint typecheck bench bench-speed fuzz setup corpus peers references screenshots clean

# A real scan of the example image the repository builds from its own files.
demo: $(BIN)/hullscan
	$(BIN)/python examples/build_demo.py build/demo-image.tar
	$(BIN)/hullscan db import examples/demo/advisories.zip examples/demo/known_exploited_vulnerabilities.json --cache-dir build/cache
	$(BIN)/hullscan scan build/demo-image.tar --cache-dir build/cache

# The whole test suite: lint, types, unit tests and the corpus tests (corpus built on first use).
test: $(BIN)/pytest corpus peers references
	$(BIN)/ruff check src tests bench examples fuzz
	$(BIN)/ruff format --check src tests bench examples fuzz
	$(BIN)/mypy
	PEERS_BIN=$(PEERS)/bin HULLSCAN_CORPUS=$(CORPUS) $(BIN)/pytest -p no:cacheprovider -n 2 --durations=20

# Lint, types and the unit tests: no corpus image, no root, no network, no services to
# start (the Celery fault tests and the fuzz smoke runs are left to `make test`).
check: $(BIN)/pytest
	$(BIN)/ruff check src tests bench examples fuzz
	$(BIN)/ruff format --check src tests bench examples fuzz
	$(BIN)/mypy
	$(BIN)/pytest -p no:cacheprovider -m "not corpus" -n 2 -k "not smoke_fuzz" \
	    --ignore tests/test_server_celery.py --ignore tests/test_concurrent_scans.py

setup: $(BIN)/pytest

$(BIN)/hullscan: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e .
	touch $@

$(BIN)/pytest: pyproject.toml $(BIN)/hullscan
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

# Test images from shared/corpus (Debian, PyPI and npm registries; needs root).
corpus:
	$(NEEDS_SHARED)
	bash scripts/corpus-prereqs.sh
	bash $(HULLSCAN_SHARED)/corpus/build.sh $(CORPUS) >/dev/null

# Reference implementations the version-ordering tests compare against (dpkg, rpm, ruby, ...),
# and Debian's chromium for the browser tests of the HTML pages.
references:
	bash scripts/test-references.sh
	bash scripts/checksec.sh
	bash scripts/registry.sh
	bash scripts/chromium.sh
	bash scripts/server-services.sh

# The README's pictures of the HTML pages, taken by the browser tests.
screenshots: $(BIN)/pytest corpus references
	HULLSCAN_SCREENSHOTS=docs/img HULLSCAN_CORPUS=$(CORPUS) $(BIN)/pytest -p no:cacheprovider tests/test_html_browser.py

# trivy, syft, hadolint and gitleaks, hash-pinned, for side-by-side checks and bench/.
peers:
	$(NEEDS_SHARED)
	bash $(HULLSCAN_SHARED)/peers/get-peers.sh $(PEERS) >/dev/null 2>&1 || echo "peers: not fetched (tests that need them skip)"

bench: $(BIN)/hullscan corpus peers
	PEERS_BIN=$(PEERS)/bin $(BIN)/python bench/bench_inventory.py --corpus $(CORPUS)

# hullscan against trivy (and syft, gitleaks): largest corpus image and a 4 GB synthetic one
bench-speed: $(BIN)/pytest corpus peers references
	PEERS_BIN=$(PEERS)/bin $(BIN)/python bench/bench_speed.py --corpus $(CORPUS)

# Coverage-guided fuzzing (atheris) of every parser, FUZZ_BUDGET seconds per harness;
# `make test` runs each for a few seconds (tests/test_fuzz.py).
FUZZ_BUDGET ?= 60
fuzz: $(BIN)/pytest
	$(BIN)/python fuzz/run.py --budget $(FUZZ_BUDGET) --coverage

lint: $(BIN)/pytest
	$(BIN)/ruff check src tests bench examples fuzz
	$(BIN)/ruff format --check src tests bench examples fuzz

typecheck: $(BIN)/pytest
	$(BIN)/mypy

clean:
	rm -rf build .mypy_cache .ruff_cache
