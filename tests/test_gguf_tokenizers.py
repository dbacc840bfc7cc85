"""The bundled tokenizers in the form llama.cpp converts, with the same token ids.

``convert_hf_to_gguf.py`` reads a Llama tokenizer that has no
``tokenizer.model`` through ``gguf.LlamaHfVocab``: a BPE model with byte
fallback and a ``Sequence`` decoder, spaces written ``▁``. The bundled files
are in that form; these tests check that it changed nothing: every bundled
model tokenizes task strings and chat templates exactly as the tokenizer the
models were trained with (pinned here as `_trained_form`), decodes them
back the same, and generates the same text. With ``gguf`` installed, the
converter's own vocabulary reader accepts each folder and lists the same
tokens at the same ids, without a BOS of its own and without a space prefix.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from langgraph_ttc.suite.task import generate_problems, reference_solution
from langgraph_ttc.suite.tokenizer import _CHARS, CHAT_TEMPLATE, STEP_TAG, build_tokenizer

MODELS = Path(__file__).resolve().parents[1] / "langgraph_ttc" / "suite" / "models"
BUNDLED = ("policy-small", "policy-large", "prm", "reviser")


def _trained_form() -> PreTrainedTokenizerFast:
    """The tokenizer in the form the bundled models were trained with.

    A plain space in the vocabulary, no normalizer, a ``Fuse`` decoder: what
    ``build_tokenizer`` built before it wrote the llama.cpp form. Kept here so
    the ids the models learned stay pinned.
    """
    vocab = {tok: i for i, tok in enumerate(["<pad>", "<s>", "</s>", "<unk>"])}
    for ch in dict.fromkeys(_CHARS):
        vocab[ch] = len(vocab)
    vocab[STEP_TAG] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    fast.add_tokens([STEP_TAG])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def test_build_tokenizer_writes_the_shipped_form() -> None:
    """Retraining writes the llama.cpp form too: the same tokenizer.json as shipped."""
    built = json.loads(build_tokenizer().backend_tokenizer.to_str())
    for model in BUNDLED:
        assert json.loads((MODELS / model / "tokenizer.json").read_text()) == built, model


def _task_strings() -> list[str]:
    """A few hundred strings of the task: questions, solutions, tags, odd spacing."""
    out: list[str] = []
    for p in generate_problems(120, seed=7):
        solution = reference_solution(p.question)
        out += [
            p.question,
            solution,
            f"{p.question}\n{solution.replace(chr(10), ' ки' + chr(10))}",
            f"  What is {p.question}?\tRevise.  ",
        ]
    out += ["", " ", "a  b", "<s>1+2\n</s>", "ки", "\t\n"]
    return out


def _chats() -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": p.question}] for p in generate_problems(20, seed=8)] + [
        [
            {"role": "user", "content": p.question},
            {"role": "assistant", "content": reference_solution(p.question)},
            {"role": "user", "content": "Revise."},
        ]
        for p in generate_problems(20, seed=9)
    ]


@pytest.mark.parametrize("model", BUNDLED)
def test_bundled_tokenizer_ids_equal_the_training_tokenizer(model: str) -> None:
    trained = _trained_form()
    shipped = AutoTokenizer.from_pretrained(MODELS / model)
    strings = _task_strings()
    assert len(strings) >= 400
    for text in strings:
        ids = shipped.encode(text)
        assert ids == trained.encode(text), text
        assert shipped.decode(ids) == trained.decode(ids), text
    for chat in _chats():
        for gen_prompt in (True, False):
            assert shipped.apply_chat_template(
                chat, add_generation_prompt=gen_prompt, tokenize=False
            ) == trained.apply_chat_template(chat, add_generation_prompt=gen_prompt, tokenize=False)
            assert shipped.apply_chat_template(
                chat, add_generation_prompt=gen_prompt, tokenize=True
            ) == trained.apply_chat_template(chat, add_generation_prompt=gen_prompt, tokenize=True)
    assert shipped.get_vocab() == {
        ("▁" if tok == " " else tok): i for tok, i in trained.get_vocab().items()
    }


def test_generations_are_unchanged(tmp_path: Path) -> None:
    """The policy greedy-decodes the same with the training tokenizer in the folder."""
    from langgraph_ttc.models import TransformersGenerator
    from langgraph_ttc.types import GenerationRequest

    old = tmp_path / "policy-small"
    shutil.copytree(MODELS / "policy-small", old)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (old / name).unlink()
    _trained_form().save_pretrained(old)
    assert json.loads((old / "tokenizer.json").read_text())["model"]["vocab"][" "] == 20
    requests = [
        GenerationRequest(
            [{"role": "user", "content": p.question}], max_tokens=48, temperature=0.0, seed=0
        )
        for p in generate_problems(6, seed=11)
    ]
    shipped = TransformersGenerator(str(MODELS / "policy-small"), device="cpu")
    trained = TransformersGenerator(str(old), device="cpu")
    got = [[c.text for c in per] for per in shipped.generate(requests)]
    want = [[c.text for c in per] for per in trained.generate(requests)]
    assert got == want
    assert any(" " in t or "\n" in t for per in got for t in per)


@pytest.mark.parametrize("model", BUNDLED)
def test_llama_cpp_converter_reads_the_vocabulary(model: str) -> None:
    gguf = pytest.importorskip("gguf")
    vocab = gguf.LlamaHfVocab(MODELS / model)  # raises for a tokenizer it would not take
    tokens = [text.decode() for text, _score, _kind in vocab.all_tokens()]
    trained = _trained_form()
    assert tokens == [
        "▁" if tok == " " else tok for tok in trained.convert_ids_to_tokens(range(len(trained)))
    ]
    special = gguf.SpecialVocab(MODELS / model, n_vocab=len(tokens))
    # The chat template renders <s> itself: a converted model must not add another.
    assert special.add_special_token.get("bos") is False
    assert special.special_token_ids["bos"] == trained.bos_token_id
    assert special.special_token_ids["eos"] == trained.eos_token_id
    assert special.chat_template == trained.chat_template
    config = json.loads((MODELS / model / "tokenizer_config.json").read_text())
    assert config["add_prefix_space"] is False  # the GGUF says no SentencePiece space prefix
