# Oryx — developer entry points. `make run` and `make test` work from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PY_PROJECTS := $(wildcard services/*/pyproject.toml sdk/*/pyproject.toml adm/pyproject.toml)

.PHONY: help setup run run-distributed test test-unit lint format protos lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): requirements-dev.txt constraints.txt $(PY_PROJECTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	@touch $(STAMP)

setup: $(STAMP) ## create .venv with every part installed editable (pinned by constraints.txt)

run: setup ## start the platform in its embedded mode (oryx up) on 127.0.0.1:8080
	$(BIN)/oryx up --port 8080 $(ARGS)

run-distributed: setup ## the services as separate processes (PostgreSQL, RabbitMQ, SeaweedFS) behind 127.0.0.1:8080
	$(BIN)/python scripts/run_distributed.py $(ARGS)

test: setup lint ## lint, then run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: setup ## the unit tests only (no PostgreSQL or RabbitMQ needed)
	$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS)

lint: setup ## ruff, mypy and the import-linter contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

protos: setup ## regenerate every service's copy of the protobuf code
	$(BIN)/python scripts/protos.py generate

lock: ## re-resolve the pinned versions into constraints.txt
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -r requirements-dev.txt
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
	rm -rf .lock-venv

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
