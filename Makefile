# The Python that makes .venv: 3.11 or newer (make PYTHON=python3.12 ... for another one)
PYTHON ?= python3
VENV ?= .venv
# pytest-xdist workers for make test: auto is one more than there are CPUs (tests/conftest.py); 0 runs every test in one process
WORKERS ?= auto
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed-stamp
# uv installs everything else from uv.lock; it is bootstrapped with pip at the version uv.lock holds
UV_VERSION := $(shell sed -n '/^name = "uv"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' uv.lock)
# the lock is the whole environment: .venv holds exactly what it pins, dependencies compiled as pip does
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never
LOWEST := $(VENV)-lowest
WHEEL_VENV := $(VENV)-wheel

.PHONY: help install lock demo test test-fast test-lowest lint types fuzz bench dist dist-check clean
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
		echo "kcm needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>/dev/null || echo 'not found')."; \
		echo "Install one (macOS: brew install python@3.12; Debian/Ubuntu: apt install python3.11-venv;"; \
		echo "or python.org), then run make PYTHON=python3.12 $(MAKECMDGOALS)"; exit 1; } >&2
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --quiet
	touch $(STAMP)

install: $(STAMP)  ## create .venv with kcm (editable) and its dev tools, exactly as uv.lock pins them

lock: $(UV)  ## after editing dependencies in pyproject.toml: resolve them again into uv.lock
	$(UV) lock

demo: $(STAMP)  ## start the embedded AWS, run kcm against it, show the result
	$(PY) tools/demo.py

lint: $(STAMP)  ## ruff
	$(VENV)/bin/ruff check src tests tools bench
	$(VENV)/bin/ruff format --check src tests tools bench

types: $(STAMP)  ## mypy --strict on src
	$(VENV)/bin/mypy

# pytest saves the test modules it rewrote for its asserts as bytecode, unless PYTHONDONTWRITEBYTECODE
# is set (as on CI machines): then every worker rewrites every module again, 4 s of CPU a worker
PYTEST := PYTHONDONTWRITEBYTECODE= $(VENV)/bin/pytest

test: lint types  ## lint, types and the whole test suite
	$(PYTEST) -n $(WORKERS)

test-fast: $(STAMP)  ## pytest only, without the slow crash and race tests
	$(PYTEST) -n $(WORKERS) -m 'not slow'

# the CLI smoke tests: the front door, list, the distribution's own checks, and every command's --help
SMOKE := tests/test_cli.py tests/commands/test_list.py tests/test_distribution.py
test-lowest: $(STAMP)  ## the CLI smoke tests on the lowest versions pyproject.toml allows, in .venv-lowest
	rm -rf $(LOWEST)
	$(UV) venv --quiet --python $(PY) $(LOWEST)
	$(UV) export --frozen --quiet --only-group smoke --no-emit-project -o $(LOWEST)/smoke.txt
	VIRTUAL_ENV=$(LOWEST) $(UV) pip install --quiet --resolution lowest-direct . -r $(LOWEST)/smoke.txt
	VIRTUAL_ENV=$(LOWEST) $(UV) pip list --quiet | grep -iE '^(botocore|click|platformdirs|pyyaml|rich|typer) '
	$(LOWEST)/bin/python -m pytest -q -p no:cacheprovider $(SMOKE)
	cd /tmp && $(CURDIR)/$(LOWEST)/bin/python $(CURDIR)/tools/check_install.py

dist: $(STAMP)  ## the sdist and the wheel (built from the sdist) into dist/
	rm -rf dist
	$(UV) build --quiet --out-dir dist

dist-check: dist  ## the wheel installed as users install it (a clean venv; uv tool install): every --help runs
	rm -rf $(WHEEL_VENV)
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install -q --disable-pip-version-check dist/*.whl
	cd /tmp && $(CURDIR)/$(WHEEL_VENV)/bin/python $(CURDIR)/tools/check_install.py
	UV_TOOL_DIR=$(CURDIR)/$(WHEEL_VENV)/tools UV_TOOL_BIN_DIR=$(CURDIR)/$(WHEEL_VENV)/tools/bin \
		$(UV) tool install --quiet --python $(PYTHON) dist/*.whl
	cd /tmp && $(CURDIR)/$(WHEEL_VENV)/tools/kcm-eks/bin/python $(CURDIR)/tools/check_install.py \
		$(CURDIR)/$(WHEEL_VENV)/tools/bin/kcm

fuzz: $(STAMP)  ## thousands of generated kubeconfigs, kcm vs the real kubectl (KCM_FUZZ_EXAMPLES=5000)
	KCM_FUZZ_EXAMPLES=$${KCM_FUZZ_EXAMPLES:-5000} $(VENV)/bin/pytest -q -s -p no:cacheprovider \
		tests/test_kubectl_parity.py -k reads_and_edits

bench: $(STAMP)  ## benchmarks side by side with kubectl and aws; writes bench/results.md
	$(PY) bench/run.py

clean:  ## remove the venvs, dist/ and caches
	rm -rf $(VENV) $(LOWEST) $(WHEEL_VENV) dist build .mypy_cache .pytest_cache .ruff_cache
