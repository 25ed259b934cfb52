# medtrace: `make demo` and `make test` take a fresh Debian machine with Python 3.11 to a running
# demo network and a passing suite. They install what they need: the virtualenv and the project,
# and the system packages when missing: `demo` only libzbar0 (for pyzbar), `test` also PostgreSQL
# for the storage tests, docker-compose to validate docker/compose.yaml without a Docker engine
# and Chromium for the web page tests.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: demo test check lint typecheck pytest bench bench-deps attacks soak crash demo-deps system-deps venv clean

demo: demo-deps venv
	$(BIN)/medtrace demo --out demo-out

test: system-deps venv check pytest

check: lint typecheck

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

# The suite on every core, the tests of one file on one worker (their module fixtures: node
# networks, a browser, the demo run). PYTEST_WORKERS=0 runs it in this one process.
PYTEST_WORKERS ?= auto

pytest: venv
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: system-deps bench-deps venv
	$(BIN)/medtrace bench --quick

# wrk generates the HTTP benchmark's load (bench/loadgen.py falls back to Python threads).
bench-deps:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "Installing system packages: wrk"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends wrk; \
	}

# The security review's attacks on TLS nodes, each figure beside its target (~2.5 min; not part
# of `make test`, whose tests of the same protections assert behaviour, not speed).
attacks: system-deps venv
	$(BIN)/medtrace bench --attacks

# 5 minutes of steady verify + write load on the demo network (not part of `make test`).
soak: system-deps venv
	$(BIN)/medtrace soak --minutes 5 --out soak-out

# The slow crash suite: >= 50 SIGKILLs of node processes mid-write, SQLite and PostgreSQL
# (not part of `make test`, which runs a few kills). MEDTRACE_CRASH_SEED=<seed> replays a run.
crash: system-deps venv
	$(BIN)/pytest --run-slow -m slow -rP tests/reliability/test_crash.py $(PYTEST_ARGS)

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Debian packages: only those missing are installed (apt-get update runs first, once). Each
# check adds the package to $missing when what it looks for is absent.
NEED_ZBAR = ldconfig -p 2>/dev/null | grep -q 'libzbar.so.0' || missing="$$missing libzbar0";
NEED_POSTGRESQL = ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql";
NEED_COMPOSE = command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose";
NEED_CHROMIUM = command -v chromium >/dev/null 2>&1 || missing="$$missing chromium";
INSTALL_MISSING = if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# What the demo needs: pyzbar's library (the demo reads back every label it prints).
demo-deps:
	@missing=""; $(NEED_ZBAR) $(INSTALL_MISSING)

# What the whole test suite needs.
system-deps:
	@missing=""; $(NEED_ZBAR) $(NEED_POSTGRESQL) $(NEED_COMPOSE) $(NEED_CHROMIUM) $(INSTALL_MISSING)

clean:
	rm -rf $(VENV) demo-out soak-out .mypy_cache .ruff_cache .pytest_cache .hypothesis
