VENV ?= .venv
# pytest-xdist workers for make test: auto is one per CPU; 0 runs every test in one process
WORKERS ?= auto
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: help install demo test test-fast lint types fuzz bench clean
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv with kcm and its dev tools

demo: $(STAMP)  ## start the embedded AWS, run kcm against it, show the result
	$(PY) tools/demo.py

lint: $(STAMP)  ## ruff
	$(VENV)/bin/ruff check src tests tools bench
	$(VENV)/bin/ruff format --check src tests tools bench

types: $(STAMP)  ## mypy --strict on src
	$(VENV)/bin/mypy

test: lint types  ## lint, types and the whole test suite
	$(VENV)/bin/pytest -n $(WORKERS)

test-fast: $(STAMP)  ## pytest only, without the slow crash and race tests
	$(VENV)/bin/pytest -n $(WORKERS) -m 'not slow'

fuzz: $(STAMP)  ## thousands of generated kubeconfigs, kcm vs the real kubectl (KCM_FUZZ_EXAMPLES=5000)
	KCM_FUZZ_EXAMPLES=$${KCM_FUZZ_EXAMPLES:-5000} $(VENV)/bin/pytest -q -s -p no:cacheprovider \
		tests/test_kubectl_parity.py -k reads_and_edits

bench: $(STAMP)  ## benchmarks side by side with kubectl and aws; writes bench/results.md
	$(PY) bench/run.py

clean:  ## remove the venv and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
