# Concord — the two commands of a fresh machine are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install runtime demo serve test test-fast lint bench bench-peers clean

## What the app needs to run (`make demo`, `make serve`): no test tools.
runtime: $(VENV)/.runtime

## The app and every test and lint tool (`make test`, `make lint`).
install: $(VENV)/.installed

$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed: $(VENV)/.runtime
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## Install, create the demo project on the embedded SQLite database, and serve it.
demo: runtime
	$(BIN)/concord demo

serve: runtime
	$(BIN)/concord db upgrade
	$(BIN)/concord serve

## The whole test suite: SQLite always, Postgres too when it answers at CONCORD_TEST_POSTGRES_URL.
## One BLAS thread per test process: two processes on two cores, no oversubscription.
test: install
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
		$(BIN)/python -m pytest -n 2 --dist load $(PYTEST_ARGS)

## Everything but the browser tests, on one process (quick feedback while working).
test-fast: install
	$(BIN)/python -m pytest -m "not browser and not slow" -x -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check app tests bench migrations
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/run_all.py

## Label Studio side by side on the same files and requests: installs label-studio into its own
## virtualenv (bench/peers/.venv, git-ignored; never a Concord dependency), then runs the comparison.
bench-peers: install
	$(BIN)/python bench/peers/labelstudio.py --install

## Atheris on the import parsers and the box validator (reliability #50), FUZZ_SECONDS each; the corpus
## each run grows is kept in var/fuzz/<target>, crashes are saved there too.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := labelstudio_json coco_json metadata_csv boxes
.PHONY: fuzz
fuzz: install
	@for target in $(FUZZ_TARGETS); do \
		mkdir -p var/fuzz/$$target/corpus; \
		$(BIN)/python -m tests.hostile.fuzz.$$target -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-artifact_prefix=var/fuzz/$$target/ var/fuzz/$$target/corpus || exit 1; \
	done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
