# Developer entry points. `make demo` and `make test` are the README's quick start.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
PYTEST_ARGS ?=

.PHONY: setup demo test lint sweep bench e2e e2e-newest reftool clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Editable install with the test tools. Strict mode links the sources into build/
# and puts that directory on sys.path: no import hook in every start-up (the default
# mode's finder costs ~2.5 ms of each module run, which a regular install does not
# pay). Links follow edits; adding or removing a source file changes its directory,
# which re-runs this rule.
PKG_DIRS := btfids btfids/btf btfids/cli plugins config
$(VENV)/.installed: pyproject.toml $(PKG_DIRS) | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]' --config-settings editable_mode=strict
	touch $@

setup: $(VENV)/.installed
	@bash scripts/system-deps

# Fetch the Debian kernel corpus and run the full newest pipeline on its vmlinux,
# comparing every output with the reference C tool's digests.
demo: setup
	$(BIN)/python scripts/demo.py

lint: setup
	$(BIN)/ruff check btfids plugins tests bench scripts
	$(BIN)/mypy

test: setup lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

sweep: setup
	$(BIN)/python -m pytest -q -m sweep $(PYTEST_ARGS)

# Build linux-source-6.12 with the C resolve_btfids and with btfids; compare (slow, cached).
e2e: setup
	$(BIN)/python e2e/kernel.py all

# bpf-next's BTF flow grafted on linux-source-6.12, built with btfids (every tool call
# recorded; replayed with $REF_RESOLVE_BTFIDS when set), booted in QEMU (slow, cached).
e2e-newest: setup
	$(BIN)/python e2e/newest.py all

# Build the 6.12 C resolve_btfids from linux-source-6.12 on this machine (cached); prints its path.
reftool: setup
	@$(BIN)/python e2e/kernel.py reftool

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
