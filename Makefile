# FaceGate: `make run` sets up and runs the app; `make test` sets up and runs the test suite.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup run test provision bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt scripts/setup.sh
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup.sh
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/python main.py

test: setup
	$(BIN)/python -m pytest

provision: setup
	$(BIN)/python main.py models --provision

bench: setup
	$(BIN)/python main.py bench --quick

clean:
	rm -rf $(VENV) .pytest_cache
