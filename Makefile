# vgx: `make train` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install install-browser install-postgres install-slurm train test test-full lint format ui bench studies clean


help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: the local CPU build; a looser spec would pull GBs of CUDA packages
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## create .venv with torch (CPU) and vgx; does nothing when up to date

train: install ## train the default experiment (seed 002's 9-layer sigmoid net)
	$(BIN)/vgx train $(ARGS)

test: install ## the fast test suite (< 5 min on 2 cores)
	$(BIN)/pytest -q

install-browser: ## Debian's Chromium for the browser tests (root; skipped where apt cannot)
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; } \
		|| echo "make install-browser: Chromium could not be installed; the browser tests skip"

install-postgres: ## Debian's PostgreSQL for the tracking-database test (root; skipped where apt cannot)
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| { apt-get update -q && apt-get install -y -q postgresql; } \
		|| echo "make install-postgres: PostgreSQL could not be installed; its test skips"

install-slurm: ## Debian's slurm-wlm and munge for the one-node SLURM test (root; skipped where apt cannot)
	@command -v slurmctld >/dev/null || ls /usr/sbin/slurmctld >/dev/null 2>&1 \
		|| { apt-get update -q && apt-get install -y -q slurm-wlm munge; } \
		|| echo "make install-slurm: SLURM could not be installed; its test skips"

test-full: install install-browser install-postgres install-slurm ## every test, the slow ones too
	$(BIN)/pytest -q -m "slow or not slow"

lint: install ## ruff lint and format check; the import contract (pyproject.toml)
	$(BIN)/ruff check vgx hydra_plugins tests bench
	$(BIN)/ruff format --check vgx hydra_plugins tests bench
	$(BIN)/lint-imports --no-cache

format: install ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix vgx hydra_plugins tests bench
	$(BIN)/ruff format vgx hydra_plugins tests bench

ui: install ## MLflow UI on 127.0.0.1:5000 over outputs/mlflow.db
	$(BIN)/vgx ui $(ARGS)

bench: install ## timing figures, medians of 5 repeats: about 40 minutes (see bench/)
	$(BIN)/python bench/single_run.py
	$(BIN)/python bench/batched.py --full
	$(BIN)/python bench/scaling.py

studies: install ## run every study and collect the verdicts in outputs/reports/studies.md
	$(BIN)/vgx study --all
	$(BIN)/python -m vgx.analysis.collect_studies

clean: ## remove the run outputs (keeps .venv)
	rm -rf outputs/runs outputs/sweeps outputs/mlflow.db outputs/mlartifacts
