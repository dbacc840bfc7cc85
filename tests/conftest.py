"""Shared fixtures: real tokenizers and real (tiny) models, all offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny Llama with the suite's tokenizer, saved as a HF folder.

    Its output is noise, but it exercises the real loading and generate paths.
    """
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    from langgraph_ttc.suite.modeling import build_config
    from langgraph_ttc.suite.tokenizer import build_tokenizer

    path = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    model = LlamaForCausalLM(build_config("tiny"))
    model.generation_config = GenerationConfig(
        do_sample=True, bos_token_id=1, eos_token_id=2, pad_token_id=0
    )
    model.save_pretrained(path)
    build_tokenizer().save_pretrained(path)
    return path
