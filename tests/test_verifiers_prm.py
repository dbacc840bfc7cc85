"""TransformersPRM on real (tiny) Llama models and the suite's tokenizer."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from langgraph_ttc.suite import task
from langgraph_ttc.suite.modeling import build_config, bundled_model_path
from langgraph_ttc.suite.tokenizer import BAD_TOKEN, GOOD_TOKEN, STEP_TAG, build_tokenizer
from langgraph_ttc.types import ScoreResult, Verifier, fold_scores
from langgraph_ttc.verifiers import (
    PRM_TEMPLATE,
    TransformersPRM,
    encode_prm_input,
    format_prm_input,
    split_steps,
)

QUESTION = "34*7-95+84*4"
SOLUTIONS = [
    task.reference_solution(QUESTION),
    "34*7=238\n#### 238",
    "",
    "84*4=336\n\n\n336+1=337\n#### 337\n",
    "nonsense ки with a tag\n#### 1",
]


@pytest.fixture(scope="module")
def prm(tiny_model_dir: Path) -> TransformersPRM:
    return TransformersPRM(tiny_model_dir, batch_size=2).load()


# --------------------------------------------------------------------------- the format


def test_format_is_the_documented_one() -> None:
    text = format_prm_input("34*7-95", ["34*7=238", "238-95=143", "#### 143"], bos="<s>")
    assert text == "<s>34*7-95\n34*7=238 ки\n238-95=143 ки\n#### 143 ки\n"
    assert PRM_TEMPLATE == "{question}\n{steps}"


def test_format_removes_stray_tags_so_tags_mark_steps() -> None:
    text = format_prm_input("1+ки2", ["1+2=3ки", "#### 3"])
    assert text == "1+2\n1+2=3 ки\n#### 3 ки\n"
    assert text.count(STEP_TAG) == 2


def test_format_math_shepherd_template() -> None:
    text = format_prm_input("Q?", ["Step 1: a", "Step 2: b"], template="{question} {steps}")
    assert text == "Q? Step 1: a ки\nStep 2: b ки\n"


def test_format_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match="question"):
        format_prm_input(3, ["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="steps"):
        format_prm_input("q", "a\nb")
    with pytest.raises(TypeError, match=r"steps\[1\]"):
        format_prm_input("q", ["a", 2])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="step_tag"):
        format_prm_input("q", ["a"], step_tag="")
    with pytest.raises(ValueError, match="template"):
        format_prm_input("q", ["a"], template="{question}")
    with pytest.raises(ValueError, match="template"):
        format_prm_input("q", ["a"], template="{question} {steps} {other}")


def test_split_steps() -> None:
    assert split_steps("a=1\n\n  \nb=2 \n#### 2\n") == ["a=1", "b=2 ", "#### 2"]
    assert split_steps("") == []
    with pytest.raises(TypeError, match="solution"):
        split_steps(None)  # type: ignore[arg-type]


def test_encode_positions_hit_the_tag_token() -> None:
    tok = build_tokenizer()
    steps = ["34*7=238", "238-95=143", "#### 143"]
    enc = encode_prm_input(tok, "34*7-95", steps)
    assert enc.text.startswith("<s>")  # the tokenizer's BOS text by default
    assert enc.input_ids[0] == tok.bos_token_id
    tag_id = tok.convert_tokens_to_ids(STEP_TAG)
    assert [enc.input_ids[p] for p in enc.tag_positions] == [tag_id] * 3
    # The training code's way (every tag token) finds the same positions.
    assert enc.tag_positions == [p for p, t in enumerate(enc.input_ids) if t == tag_id]


def test_encode_multi_token_tag_uses_last_piece() -> None:
    tok = build_tokenizer()
    enc = encode_prm_input(tok, "1+2", ["1+2=3", "#### 3"], step_tag="<t>")
    pieces = tok.convert_ids_to_tokens(enc.input_ids)
    assert [pieces[p] for p in enc.tag_positions] == [">", ">"]
    assert [pieces[p - 2 : p + 1] for p in enc.tag_positions] == [["<", "t", ">"]] * 2


# --------------------------------------------------------------------------- scoring


def test_is_a_verifier(prm: TransformersPRM) -> None:
    assert isinstance(prm, Verifier)
    assert prm.name == f"prm:{Path(prm._source or '').name}"
    assert prm.fold == "last"


def test_one_score_per_step_in_unit_interval(prm: TransformersPRM) -> None:
    result = prm.score(QUESTION, SOLUTIONS)
    assert isinstance(result, ScoreResult)
    assert [len(s) for s in result.steps] == [max(1, len(split_steps(sol))) for sol in SOLUTIONS]
    for scores in result.steps:
        assert all(0.0 <= s <= 1.0 and math.isfinite(s) for s in scores)
    assert result.steps[2] == [0.0]  # empty solution: documented score, no model call
    assert fold_scores(result.steps[0], prm.fold) == result.steps[0][-1]


def test_batch_equals_one_by_one(prm: TransformersPRM) -> None:
    batched = prm.score(QUESTION, SOLUTIONS)
    single = [prm.score(QUESTION, [sol]).steps[0] for sol in SOLUTIONS]
    for b, s in zip(batched.steps, single, strict=True):
        assert b == pytest.approx(s, abs=1e-5)
    assert batched.tokens == sum(prm.score(QUESTION, [sol]).tokens for sol in SOLUTIONS)


def test_keep_logits_path_equals_full_logits(prm: TransformersPRM) -> None:
    assert prm._keep_logits  # Llama supports projecting only the tag positions
    fast = prm.score(QUESTION, SOLUTIONS)
    prm._keep_logits = False
    try:
        full = prm.score(QUESTION, SOLUTIONS)
    finally:
        prm._keep_logits = True
    for a, b in zip(fast.steps, full.steps, strict=True):
        assert a == pytest.approx(b, abs=1e-5)


def test_deterministic_across_instances(prm: TransformersPRM, tiny_model_dir: Path) -> None:
    first = prm.score(QUESTION, SOLUTIONS)
    assert prm.score(QUESTION, SOLUTIONS) == first
    other = TransformersPRM(str(tiny_model_dir), batch_size=64).score(QUESTION, SOLUTIONS)
    for a, b in zip(first.steps, other.steps, strict=True):
        assert a == pytest.approx(b, abs=1e-5)


def test_tokens_and_flops_counted(prm: TransformersPRM) -> None:
    result = prm.score(QUESTION, SOLUTIONS)
    expected = sum(len(prm.encode(QUESTION, s).input_ids) for s in SOLUTIONS if s.strip())
    assert result.tokens == expected > 0
    model = LlamaForCausalLM.from_pretrained(prm._source)
    assert prm.params == model.num_parameters()
    assert result.flops == 2.0 * prm.params * expected
    assert prm.score(QUESTION, ["", "\n"]) == ScoreResult(steps=[[0.0], [0.0]], tokens=0)
    assert prm.score(QUESTION, []) == ScoreResult(steps=[])


async def test_ascore_matches_score(prm: TransformersPRM) -> None:
    result = await prm.ascore(QUESTION, SOLUTIONS)
    assert result == prm.score(QUESTION, SOLUTIONS)


def test_lazy_loading(tiny_model_dir: Path) -> None:
    prm = TransformersPRM(tiny_model_dir)
    assert prm._model is None
    prm.score(QUESTION, SOLUTIONS[:1])
    assert prm._model is not None
    assert next(prm._model.parameters()).device.type == (
        "cuda" if torch.cuda.is_available() else "cpu"
    )


def test_bad_input(prm: TransformersPRM) -> None:
    with pytest.raises(TypeError, match="solutions"):
        prm.score(QUESTION, "34*7=238")
    with pytest.raises(TypeError, match="question"):
        prm.score(None, ["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"solutions\[1\]"):
        prm.score(QUESTION, ["a", 1])  # type: ignore[list-item]


def test_bad_options(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        TransformersPRM(tiny_model_dir, batch_size=0)
    with pytest.raises(ValueError, match="good_token and bad_token"):
        TransformersPRM(tiny_model_dir, good_token="+", bad_token="+")
    with pytest.raises(ValueError, match="template"):
        TransformersPRM(tiny_model_dir, template="{steps}")
    with pytest.raises(TypeError, match="model"):
        TransformersPRM(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="good_token '\\+\\+' is not a single token"):
        TransformersPRM(tiny_model_dir, good_token="++").load()
    with pytest.raises(ValueError, match="bad_token"):
        TransformersPRM(tiny_model_dir, bad_token="no").load()


# --------------------------------------------------------------------------- the scoring math


def _hand_set_model(
    marker: str, *, good_wins: bool = True
) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """A Llama whose next-token logits are fixed by hand.

    Attention and MLP outputs are zeroed, so the final hidden state depends only
    on the current token. Hidden dim 0 is a constant, dim 1 is +1 on ``marker``
    and -1 on every other token. ``lm_head`` reads dim 1: on ``marker`` the good
    token's logit beats the bad one's (or loses, with ``good_wins=False``);
    everywhere else it is the other way round. A PRM that reads the wrong
    position, or swaps good and bad, gets the wrong side of 0.5.
    """
    tok = build_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(build_config("tiny"))
    marker_id = tok.convert_tokens_to_ids(marker)
    good = tok.convert_tokens_to_ids(GOOD_TOKEN)
    bad = tok.convert_tokens_to_ids(BAD_TOKEN)
    sign = 1.0 if good_wins else -1.0
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        emb = model.model.embed_tokens.weight
        emb.zero_()
        emb[:, 0] = 1.0
        emb[:, 1] = -1.0
        emb[marker_id, 1] = 1.0
        head = model.lm_head.weight
        head.zero_()
        head[good, 1] = sign
        head[bad, 1] = -sign
    return model, tok


def test_good_logit_above_bad_at_tags_scores_above_half() -> None:
    model, tok = _hand_set_model(STEP_TAG)
    prm = TransformersPRM(model, tokenizer=tok)
    result = prm.score(QUESTION, SOLUTIONS)
    for sol, scores in zip(SOLUTIONS, result.steps, strict=True):
        if sol.strip():
            # hidden = RMSNorm([1, 1, 0...]) = [4, 4, 0...]: logits +4 vs -4.
            assert scores == pytest.approx([1 / (1 + math.exp(-8))] * len(scores), abs=1e-5)


def test_bad_logit_above_good_at_tags_scores_below_half() -> None:
    model, tok = _hand_set_model(STEP_TAG, good_wins=False)
    scores = TransformersPRM(model, tokenizer=tok).score(QUESTION, SOLUTIONS[:2]).steps
    assert all(s < 0.01 for row in scores for s in row)


def test_multi_token_tag_is_read_at_its_last_token() -> None:
    # Only ">" is marked: reading "<" or "t" (or the "\n" after) would score < 0.5.
    model, tok = _hand_set_model(">")
    prm = TransformersPRM(model, tokenizer=tok, step_tag="<t>")
    scores = prm.score("1+2*3", ["2*3=6", "1+6=7", "#### 7"]).steps
    assert [len(s) for s in scores] == [1, 1, 1]
    assert all(s[0] > 0.99 for s in scores)


def test_nan_from_the_model_names_verifier_and_solution() -> None:
    model, tok = _hand_set_model(STEP_TAG)
    with torch.no_grad():
        model.lm_head.weight[tok.convert_tokens_to_ids(GOOD_TOKEN), 1] = math.nan
    prm = TransformersPRM(model, tokenizer=tok, name="nan-prm")
    with pytest.raises(ValueError, match=r"'nan-prm'.*solution 0"):
        prm.score(QUESTION, ["1+1=2", ""])


# --------------------------------------------------------------------------- the bundled PRM


def test_bundled_prm_prefers_correct_solutions() -> None:
    try:
        path = bundled_model_path("prm")
    except FileNotFoundError:
        pytest.skip("bundled PRM not trained yet")
    prm = TransformersPRM(path)
    right, wrong = [], []
    for p in task.load_split("test", 20, ops=(2, 3), seed=0):
        ref = task.reference_solution(p.question)
        bad = ref.rsplit("\n", 1)[0] + f"\n#### {p.answer + 7}"
        last = [s[-1] for s in prm.score(p.question, [ref, bad]).steps]
        right.append(last[0])
        wrong.append(last[1])
    assert sum(right) / len(right) > sum(wrong) / len(wrong)


def test_encode_without_offsets_falls_back_to_prefixes() -> None:
    """Slow tokenizers have no offset mapping; positions must come out the same."""
    fast = build_tokenizer()

    class NoOffsets:
        bos_token = fast.bos_token

        def __call__(self, text: str, **kwargs: object) -> object:
            if kwargs.pop("return_offsets_mapping", False):
                raise NotImplementedError("return_offset_mapping is not available")
            return fast(text, **kwargs)

    steps = ["34*7=238", "238-95=143", "#### 143"]
    slow = encode_prm_input(NoOffsets(), "34*7-95", steps)  # type: ignore[arg-type]
    assert slow == encode_prm_input(fast, "34*7-95", steps)
