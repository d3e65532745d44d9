# ps-sync developer commands. Every target creates .venv when missing and installs the pinned
# dependencies (requirements-dev.txt under the constraints.txt lock); nothing else is needed.
#
#   make test      lint (ruff, incl. Airflow 3 rules) + the test suite
#   make demo      the main job end to end against a local stack
#   make airflow   airflow standalone with this repository's dags/ and plugins/ (the UI)
#   make sandbox   the vendor sandbox (PSA, ERP, CRM, HCM + admin API) in the foreground
#   make bench     side-by-side benchmarks (not part of make test)
#   make pg-stop   stop the private PostgreSQL server under .local/pg

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCAL := .local
# Airflow's own commands (standalone starts the scheduler etc. as `airflow ...`) come from .venv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Source the stack's environment (database URL, Airflow home, connections) before a command.
WITH_ENV = mkdir -p $(LOCAL) && $(PY) -m ps_sync.devenv > $(LOCAL)/env.sh && set -a && . $(LOCAL)/env.sh && set +a &&

.PHONY: venv test lint pytest demo airflow sandbox bench pg-stop lock clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --quiet --disable-pip-version-check --upgrade "pip==26.3"
	$(PY) -m pip install --quiet --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@# plugins/ (the ps_sync package) and the repository root (sandbox, bench) on the venv's path:
	@# the same package Airflow loads from plugins/, importable from tests, the CLI and the sandbox.
	$(PY) -c 'import sysconfig, pathlib; pathlib.Path(sysconfig.get_path("purelib"), "ps_sync_repo.pth").write_text("$(CURDIR)/plugins\n$(CURDIR)\n")'
	@touch $(STAMP)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

pytest: venv
	$(WITH_ENV) $(PY) -m pytest $(PYTEST_ARGS)

test: lint pytest

demo: venv
	$(WITH_ENV) $(PY) -m ps_sync.demo

sandbox: venv
	$(WITH_ENV) exec $(PY) -m sandbox serve --seed '{"seed": 42, "time_entries": 5000}'

airflow: venv
	$(WITH_ENV) $(VENV)/bin/airflow db migrate && exec $(VENV)/bin/airflow standalone

bench: venv
	$(WITH_ENV) $(PY) -m bench

pg-stop: venv
	$(PY) -m ps_sync.localpg stop

# Re-resolve the lock file from requirements-dev.txt in a throwaway environment.
lock:
	rm -rf $(LOCAL)/lockenv && $(PYTHON) -m venv $(LOCAL)/lockenv
	$(LOCAL)/lockenv/bin/pip install --quiet --upgrade "pip==26.3"
	$(LOCAL)/lockenv/bin/pip install --quiet -r requirements-dev.txt
	{ head -2 constraints.txt; $(LOCAL)/lockenv/bin/pip freeze --exclude-editable \
	  | grep -v -E '^(pip|setuptools|wheel)=='; } > constraints.txt.new && mv constraints.txt.new constraints.txt

clean: pg-stop
	rm -rf $(LOCAL) $(VENV) .pytest_cache .ruff_cache
