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
# The venv's bin first: qtorch's JIT build looks for `ninja` on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

DEMO ?= out/demo
# rv32 (RISC-V under qemu, with exact instruction counts) when the toolchain is there, else the host build.
DEPLOY_TARGET ?= $(if $(shell command -v riscv64-unknown-elf-gcc 2>/dev/null),rv32,host)

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

# The main job on real data: fetch, a short search, the Pareto table and plot, deploy of the best model.
demo: venv
	mkdir -p $(DEMO)
	$(HARX) fetch uci-har
	$(HARX) search --recipe recipes/demo.yaml --store $(DEMO)/store.sqlite
	$(HARX) pareto list --store $(DEMO)/store.sqlite
	$(HARX) pareto plot --store $(DEMO)/store.sqlite -o $(DEMO)/front.png -o $(DEMO)/front.html
	$(HARX) deploy --best --store $(DEMO)/store.sqlite --target $(DEPLOY_TARGET) -o $(DEMO)/c --run
	@echo "front: $(DEMO)/front.png $(DEMO)/front.html; C project: $(DEMO)/c"

# The benchmarks that need neither data nor training; bench/README.md lists the others.
bench: venv
	$(BIN)/python bench/cost_spread.py
	$(BIN)/python bench/bad_inputs_memory.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
