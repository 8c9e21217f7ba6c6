# FaceGate: `make run` sets up and runs the app; `make test` sets up, runs the checks (ruff, mypy),
# then the test suite. CI (.ci/run) runs `make test` on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup run lint imports typecheck check test provision bench wheel clean

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup.sh
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/python main.py

lint: setup
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

# the layers (core <- db <- enroll <- app, gui) and Qt only in gui: the contracts in pyproject.toml
imports: setup
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/python -m mypy

# the CI checks: any ruff finding, unformatted file, broken import contract or mypy error fails the
# build before the tests run
check: lint imports typecheck

test: check
	$(BIN)/python -m pytest

provision: setup
	$(BIN)/python main.py models --provision

bench: setup
	$(BIN)/python main.py bench --quick

wheel: setup
	$(BIN)/python -m pip wheel --no-deps . -w dist

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build dist *.egg-info
