# Two commands, from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test lint bench-reduced llamacpp-test

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

# The bundled policy served by llama-cpp-python (tests/integration/test_llamacpp.py:
# greedy parity with transformers, beam search through completions mode). Not in
# `make test`: the first run builds llama-cpp-python from source (246 s measured
# on this 2-core machine; pip caches the wheel) and fetches its convert script.
LLAMACPP_VERSION ?= 0.3.36
LLAMACPP_DIR ?= .cache/llama.cpp-$(LLAMACPP_VERSION)

llamacpp-test: install
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) nice -n 10 $(BIN)/pip install -q "llama-cpp-python[server]==$(LLAMACPP_VERSION)" gguf sentencepiece
	test -f $(LLAMACPP_DIR)/convert_hf_to_gguf.py || ( mkdir -p $(LLAMACPP_DIR) && \
	  $(BIN)/pip download -q --no-deps --no-binary :all: "llama-cpp-python==$(LLAMACPP_VERSION)" -d $(LLAMACPP_DIR) && \
	  tar -xzf $(LLAMACPP_DIR)/llama_cpp_python-$(LLAMACPP_VERSION).tar.gz -C $(LLAMACPP_DIR) --strip-components=3 \
	    llama_cpp_python-$(LLAMACPP_VERSION)/vendor/llama.cpp/convert_hf_to_gguf.py \
	    llama_cpp_python-$(LLAMACPP_VERSION)/vendor/llama.cpp/conversion \
	    llama_cpp_python-$(LLAMACPP_VERSION)/vendor/llama.cpp/gguf-py )
	LLAMA_CPP_CONVERT=$(LLAMACPP_DIR)/convert_hf_to_gguf.py OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -s tests/integration/test_llamacpp.py
