# harx developer and user entry points. Every target sets up the venv on first use.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HARX := $(BIN)/harx
# The shared folder of a harx workplace holds offline copies of the official archives; users elsewhere
# download them from the official URLs.
SHARED_DATA ?= $(wildcard ../shared/datasets)
export HARX_DATA_MIRROR ?= $(SHARED_DATA)
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv test test-all lint demo bench clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[test]"
	touch $@

venv: $(BIN)/.installed

test: venv
	$(BIN)/python -m pytest -q -m "not slow"

test-all: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check harx tests bench
	$(BIN)/ruff format --check harx tests bench

demo: venv
	$(HARX) fetch uci-har
	$(HARX) fetch --list

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
