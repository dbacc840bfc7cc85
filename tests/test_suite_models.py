"""The shipped models load offline from package data and do what their cards say."""

from __future__ import annotations

import json
import os

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from langgraph_ttc.suite.modeling import BUNDLED_DIR, BUNDLED_MODELS, bundled_model_path
from langgraph_ttc.suite.task import check, load_split
from langgraph_ttc.suite.tokenizer import BOS, STEP_TAG


@pytest.mark.parametrize("name", BUNDLED_MODELS)
def test_bundled_model_loads_offline(name: str) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    path = bundled_model_path(name)
    assert path.is_relative_to(BUNDLED_DIR)
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "1+2"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.startswith(BOS)
    assert tok.convert_tokens_to_ids(STEP_TAG) != tok.unk_token_id
    assert (path / "README.md").read_text().startswith(f"# {name}")
    info = json.loads((path / "training.json").read_text())
    assert info["params"] == sum(p.numel() for p in model.parameters())


def test_large_is_about_14x_small_and_weights_fit_40mb() -> None:
    small = json.loads((bundled_model_path("policy-small") / "training.json").read_text())["params"]
    large = json.loads((bundled_model_path("policy-large") / "training.json").read_text())["params"]
    assert 12 <= large / small <= 16
    weights = sum(f.stat().st_size for f in BUNDLED_DIR.glob("*/*.safetensors"))
    assert weights <= 40e6


def test_bundled_model_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="bundled model"):
        bundled_model_path("policy-huge")


def test_policy_small_greedy_solves_one_operation_questions() -> None:
    path = bundled_model_path("policy-small")
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    questions = [p.question for p in load_split("test", 20, ops=1, seed=0)]
    prompts = [
        tok.apply_chat_template(
            [{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True
        )
        for q in questions
    ]
    batch = tok(prompts, add_special_tokens=False, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**batch, do_sample=False, max_new_tokens=40)
    texts = tok.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    solved = [check(t, q) for t, q in zip(texts, questions, strict=True)]
    # The card measures 0.76 greedy accuracy on one-operation test questions.
    assert sum(solved) >= 12, list(zip(questions, texts, strict=True))


@pytest.mark.parametrize("question", ["3*4+5", "7*3+12-5", "12*4-17+3*9"])
def test_bundled_default_verifier_ranks_a_slipped_step_below_the_right_one(question: str) -> None:
    """The verifier ``ttc`` uses by default, on a fixed question: one result moved by one."""
    from langgraph_ttc.defaults import bundled_verifier
    from langgraph_ttc.suite.task import reference_solution

    torch.set_num_threads(1)
    right = reference_solution(question)
    first = right.split("\n")[0]  # e.g. "3*4=12"
    lhs, result = first.split("=")
    # Only the slipped step changes: a checker of final answers alone cannot tell them apart.
    wrong = right.replace(first, f"{lhs}={int(result) + 1}", 1)
    assert wrong != right
    scores = bundled_verifier().score(question, [right, wrong]).steps
    assert [len(s) for s in scores] == [1, 1]  # folded over steps in the verifier (min)
    assert scores[0][0] > 0.5 > 0.01 > scores[1][0]
