# Two commands, from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test lint bench-reduced

install: $(VENV)/.installed

# `.[dev]` holds the [local] extra (torch, transformers: local and bundled
# models) and the tools. torch is pinned to the CPU build (see pyproject);
# installing it first keeps pip from pulling the CUDA wheels. A remote-only
# user needs only `pip install langgraph-ttc`.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/ttc solve "17*3+25-4*6" --strategy auto

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests

lint: install
	$(BIN)/ruff check langgraph_ttc tests examples graphs benchmarks
	$(BIN)/mypy langgraph_ttc
