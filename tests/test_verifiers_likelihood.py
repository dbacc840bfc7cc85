"""The likelihood verifiers: a causal LM's per-step token probabilities, local and remote.

The remote backend is tested here against :class:`EchoServer`, a small HTTP
server on 127.0.0.1 that answers ``POST /v1/completions`` in the legacy
completions echo format (``choices[0].logprobs`` with ``tokens``,
``text_offset``, ``token_logprobs`` and ``top_logprobs`` for every prompt
token, ``null`` for the first), computing the log-probabilities with the
real local model. That format is what llama.cpp's server
(``llama-cpp-python[server]``) and vLLM return for ``echo=True, logprobs=1,
max_tokens=0``. Neither can run here: llama-cpp-python has no prebuilt
wheel on this machine's index (sdist only; building takes minutes) and vLLM
needs a GPU; ``transformers serve``, which does run here, ignores ``echo``
and ``logprobs`` (``tests/integration/test_likelihood_server.py`` checks the
verifier's error against it, and runs llama.cpp when it is installed). The
server has two flavours: ``llamacpp`` writes the BOS token as ``"<s>"`` and
sends no ``usage``; ``vllm`` writes special tokens as ``""``, sends
``usage`` and, with ``max_tokens=1``, appends one generated token.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoTokenizer, LlamaForCausalLM, PreTrainedTokenizerFast

from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.suite import task
from langgraph_ttc.suite.modeling import bundled_model_path
from langgraph_ttc.types import ScoreResult, Verifier
from langgraph_ttc.verifiers import (
    EMPTY_SOLUTION_SCORE,
    OpenAILikelihoodVerifier,
    TransformersLikelihoodVerifier,
    split_steps,
)
from langgraph_ttc.verifiers.likelihood_common import (
    fold_token_logprobs,
    step_spans,
    steps_from_tokens,
)

QUESTION = "7*3+12-5"
SOLUTIONS = [
    task.reference_solution(QUESTION),
    "7*3=21\n#### 21",
    "",
    "7*3=21\n\n\n21+12=34\n#### 29\n",
    "12-5=7\n",
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lik(tiny_model_dir: Path) -> TransformersLikelihoodVerifier:
    return TransformersLikelihoodVerifier(tiny_model_dir).load()


def _manual_step_logprobs(model_dir: Path, question: str, solution: str) -> list[list[float]]:
    """Each step's token log-probabilities, from one plain forward pass (character tokens)."""
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = LlamaForCausalLM.from_pretrained(model_dir).eval()
    prompt = f"<s>{question}\n"  # the suite's chat template with the generation prompt
    ids = tok(prompt + solution, add_special_tokens=False)["input_ids"]
    assert len(ids) == 1 + len(question) + 1 + len(solution)  # one token per character
    with torch.no_grad():
        logp = model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
    # Token k of the text is character k - 2 of the prompt ("<s>" is one token of three chars).
    base = len(question) + 2  # the token index of the solution's first character
    out = []
    for start, end in step_spans(solution, "\n"):
        out.append([float(logp[base + c - 1, ids[base + c]]) for c in range(start, end)])
    return out


# --------------------------------------------------------------------------- local


def test_follows_the_protocol_and_scores_each_step(lik: TransformersLikelihoodVerifier) -> None:
    assert isinstance(lik, Verifier)
    assert lik.name == f"likelihood:{Path(str(lik._source)).name}"
    assert lik.prompt(QUESTION) == f"<s>{QUESTION}\n"
    result = lik.score(QUESTION, SOLUTIONS)
    assert isinstance(result, ScoreResult)
    for sol, scores in zip(SOLUTIONS, result.steps, strict=True):
        assert len(scores) == max(1, len(split_steps(sol)))
        assert all(0.0 <= s <= 1.0 for s in scores)
    assert result.steps[2] == [EMPTY_SOLUTION_SCORE]
    scored = [s for s in SOLUTIONS if s]
    assert result.tokens == sum(len(f"<s>{QUESTION}\n") - 2 + len(s) for s in scored)
    assert result.flops == 2.0 * lik.params * result.tokens


def test_batched_equals_one_by_one(
    tiny_model_dir: Path, lik: TransformersLikelihoodVerifier
) -> None:
    batched = lik.score(QUESTION, SOLUTIONS).steps
    single = [lik.score(QUESTION, [s]).steps[0] for s in SOLUTIONS]
    chunked = TransformersLikelihoodVerifier(tiny_model_dir, batch_size=2).score(
        QUESTION, SOLUTIONS
    )
    for a, b, c in zip(batched, single, chunked.steps, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
        assert a == pytest.approx(c, abs=1e-5)


def test_step_fold_scores_a_solution_once(
    tiny_model_dir: Path, lik: TransformersLikelihoodVerifier
) -> None:
    per_step = lik.score(QUESTION, SOLUTIONS).steps
    folded = TransformersLikelihoodVerifier(tiny_model_dir, step_fold="min").score(
        QUESTION, SOLUTIONS
    )
    assert folded.steps == [[pytest.approx(min(s), abs=1e-6)] for s in per_step]
    with pytest.raises(ValueError, match="step_fold"):
        TransformersLikelihoodVerifier(tiny_model_dir, step_fold="max")  # type: ignore[arg-type]


def test_token_folds_match_a_manual_forward_pass(tiny_model_dir: Path) -> None:
    solution = SOLUTIONS[3]  # blank lines between steps; a trailing line break
    manual = _manual_step_logprobs(tiny_model_dir, QUESTION, solution)
    expected = {
        "min": [math.exp(min(lp)) for lp in manual],
        "mean": [math.exp(sum(lp) / len(lp)) for lp in manual],  # geometric mean
        "prod": [math.exp(sum(lp)) for lp in manual],
        "last": [math.exp(lp[-1]) for lp in manual],
    }
    got = {}
    for fold, want in expected.items():
        v = TransformersLikelihoodVerifier(tiny_model_dir, token_fold=fold)  # type: ignore[arg-type]
        got[fold] = v.score(QUESTION, [solution]).steps[0]
        assert got[fold] == pytest.approx(want, abs=1e-4), fold
    # Multi-token steps: the whole step is less likely than its least likely token,
    # which is less likely than the geometric mean.
    for p, m, g in zip(got["prod"], got["min"], got["mean"], strict=True):
        assert p < m < g


def test_slow_tokenizer_fallback_gives_the_same_scores(
    tiny_model_dir: Path, lik: TransformersLikelihoodVerifier
) -> None:
    class NoOffsets:
        """A tokenizer that, like a slow one, has no offset mapping."""

        def __init__(self, inner: PreTrainedTokenizerFast) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def __call__(self, text: str, **kw: Any) -> Any:
            if kw.pop("return_offsets_mapping", False):
                raise NotImplementedError("no offsets")
            return self.inner(text, **kw)

    slow = TransformersLikelihoodVerifier(
        tiny_model_dir,
        tokenizer=NoOffsets(lik.tokenizer),  # type: ignore[arg-type]
    )
    want = lik.score(QUESTION, SOLUTIONS).steps
    for a, b in zip(slow.score(QUESTION, SOLUTIONS).steps, want, strict=True):
        assert a == pytest.approx(b, abs=1e-5)


def test_a_token_straddling_steps_counts_in_both() -> None:
    # Text "ab\ncd": BPE tokens "ab", "\nc", "d"; steps "ab" (0-2) and "cd" (3-5).
    spans = [(0, 2), (2, 4), (4, 5)]
    lps = [math.log(0.5), math.log(0.2), math.log(0.9)]
    assert steps_from_tokens(spans, lps, [(0, 2), (3, 5)], "min") == pytest.approx([0.5, 0.2])
    assert steps_from_tokens(spans, lps, [(0, 2), (3, 5)], "last") == pytest.approx([0.5, 0.9])
    # A token alone on the delimiter counts nowhere; a first token without a logprob is skipped.
    spans = [(0, 3), (3, 5), (5, 6), (6, 8)]  # "<s>", "ab", "\n", "cd"
    got = steps_from_tokens(spans, [None, -0.5, -9.0, -1.0], [(3, 5), (6, 8)], "min")
    assert got == pytest.approx([math.exp(-0.5), math.exp(-1.0)])
    with pytest.raises(ValueError, match="no scored token"):
        steps_from_tokens([(0, 2)], [None], [(0, 2)], "min")
    assert fold_token_logprobs([1e-9], "min") == 1.0  # a server's rounding above 0 is capped
    with pytest.raises(ValueError, match="token_fold"):
        fold_token_logprobs([-1.0], "median")  # type: ignore[arg-type]


def test_a_bpe_tokenizer_without_chat_template(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = [
        f"{a}*{b}={a * b}\n{a * b}+{b}={a * b + b}\n#### {a * b + b}"
        for a in range(1, 30)
        for b in range(1, 12)
    ]
    tok.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )
    from transformers import LlamaConfig

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        pad_token_id=0,
        bos_token_id=1,
    )
    model = LlamaForCausalLM(cfg).eval()
    question = "12*7+7"
    solution = "12*7=84\n84+7=91\n#### 91"
    enc = fast(f"<s>{question}\n{solution}", add_special_tokens=False)
    assert len(enc["input_ids"]) < len(f"<s>{question}\n{solution}") - 2  # merges happened
    v = TransformersLikelihoodVerifier(model, tokenizer=fast, name="bpe")
    assert v.prompt(question) == f"<s>{question}\n"  # no chat template: DEFAULT_TEMPLATE
    scores = v.score(question, [solution, "12*7=85\n#### 85"])
    assert [len(s) for s in scores.steps] == [3, 2]
    assert all(0.0 <= x <= 1.0 for s in scores.steps for x in s)
    single = v.score(question, ["12*7=85\n#### 85"]).steps[0]
    assert single == pytest.approx(scores.steps[1], abs=1e-5)
    assert scores.tokens == len(enc["input_ids"]) + len(
        fast(f"<s>{question}\n12*7=85\n#### 85", add_special_tokens=False)["input_ids"]
    )


def test_long_input_loses_prompt_tokens_not_solution_tokens(tiny_model_dir: Path) -> None:
    solution = SOLUTIONS[0]
    v = TransformersLikelihoodVerifier(tiny_model_dir, max_length=len(solution) + 3)
    res = v.score(QUESTION, [solution])
    assert len(res.steps[0]) == len(split_steps(solution))
    assert res.tokens == len(solution) + 3
    short = TransformersLikelihoodVerifier(tiny_model_dir, max_length=len(solution) - 2)
    with pytest.raises(ValueError, match=r"solutions\[0\].*does not fit"):
        short.score(QUESTION, [solution])


async def test_ascore_equals_score(lik: TransformersLikelihoodVerifier) -> None:
    a = await lik.ascore(QUESTION, SOLUTIONS)
    b = lik.score(QUESTION, SOLUTIONS)
    assert a.steps == b.steps and a.tokens == b.tokens


def test_bad_input(lik: TransformersLikelihoodVerifier, tiny_model_dir: Path) -> None:
    assert lik.score(QUESTION, []) == ScoreResult(steps=[])
    assert lik.score(QUESTION, ["", " \n\n"]).steps == [[EMPTY_SOLUTION_SCORE]] * 2
    with pytest.raises(TypeError, match=r"solutions\[1\].*int"):
        lik.score(QUESTION, ["1+1=2", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="question"):
        lik.score(None, ["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="solutions"):
        lik.score(QUESTION, "7*3=21")
    with pytest.raises(ValueError, match="token_fold"):
        TransformersLikelihoodVerifier(tiny_model_dir, token_fold="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="template"):
        TransformersLikelihoodVerifier(tiny_model_dir, template="no field")
    with pytest.raises(ValueError, match="template"):
        TransformersLikelihoodVerifier(tiny_model_dir, template="{question}{other}")
    with pytest.raises(ValueError, match="batch_size"):
        TransformersLikelihoodVerifier(tiny_model_dir, batch_size=0)
    with pytest.raises(TypeError, match="model"):
        TransformersLikelihoodVerifier(3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- remote


class EchoServer:
    """``POST /v1/completions`` with echo + logprobs, computed by a real local model."""

    def __init__(self, model_dir: Path, flavour: str) -> None:
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.model = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.flavour = flavour
        self.script: list[Any] = []  # per request: "pass", an HTTP status, "nologprobs", "garbage"
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with outer.lock:
                    outer.requests.append(body)
                    fault = outer.script.pop(0) if outer.script else "pass"
                    status, out = outer.answer(body, fault)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/v1"

    def answer(self, body: dict[str, Any], fault: Any) -> tuple[int, bytes]:
        if isinstance(fault, int):
            return fault, json.dumps({"error": {"message": f"scripted {fault}"}}).encode()
        if fault == "garbage":
            return 200, b"<html>not json"
        prompt, max_tokens = body["prompt"], body.get("max_tokens", 16)
        ids = self.tok(prompt, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logp = self.model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
        lps: list[float | None] = [None] + [float(logp[i - 1, ids[i]]) for i in range(1, len(ids))]
        skip = self.flavour == "vllm"
        gen = [int(logp[-1].argmax())] if max_tokens else []
        if gen:
            lps.append(float(logp[-1, gen[0]]))
        tokens = [self.tok.decode([t], skip_special_tokens=skip) for t in ids + gen]
        offsets, pos = [], 0
        for t in tokens:
            offsets.append(pos)
            pos += len(t)
        choice: dict[str, Any] = {
            "index": 0,
            "text": (prompt if body.get("echo") else "") + "".join(tokens[len(ids) :]),
            "finish_reason": "length",
            "logprobs": {
                "tokens": tokens,
                "text_offset": offsets,
                "token_logprobs": lps,
                "top_logprobs": [
                    None if lp is None else {t: lp} for t, lp in zip(tokens, lps, strict=True)
                ],
            },
        }
        if fault == "nologprobs" or not body.get("echo") or not body.get("logprobs"):
            choice["logprobs"] = None
        out: dict[str, Any] = {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 0,
            "model": body["model"],
            "choices": [choice],
        }
        if self.flavour == "vllm":
            out["usage"] = {
                "prompt_tokens": len(ids),
                "completion_tokens": len(gen),
                "total_tokens": len(ids) + len(gen),
            }
        return 200, json.dumps(out).encode()

    def __enter__(self) -> EchoServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.shutdown()
        self.http.server_close()


def _model_dirs(tiny_model_dir: Path) -> dict[str, Path]:
    dirs = {"tiny": tiny_model_dir}
    with contextlib.suppress(FileNotFoundError):
        dirs["policy-large"] = bundled_model_path("policy-large")
    return dirs


def _remote(server: EchoServer, model_dir: Path, **kw: Any) -> OpenAILikelihoodVerifier:
    kw.setdefault("retry_backoff", 0.01)
    kw.setdefault("max_backoff", 0.02)
    return OpenAILikelihoodVerifier(
        "m", base_url=server.base_url, api_key="k", tokenizer=model_dir, **kw
    )


@pytest.mark.parametrize("flavour,max_tokens", [("llamacpp", 0), ("vllm", 1)])
@pytest.mark.parametrize("fold", ["min", "mean", "last"])
def test_remote_matches_local(
    tiny_model_dir: Path, flavour: str, max_tokens: int, fold: str
) -> None:
    for label, model_dir in _model_dirs(tiny_model_dir).items():
        local = TransformersLikelihoodVerifier(model_dir, dtype="float32", token_fold=fold)  # type: ignore[arg-type]
        want = local.score(QUESTION, SOLUTIONS)
        with EchoServer(model_dir, flavour) as server:
            remote = _remote(
                server, model_dir, token_fold=fold, max_tokens=max_tokens, params=local.params
            )
            got = remote.score(QUESTION, SOLUTIONS)
            assert len(server.requests) == 4  # one per solution with steps
            assert all(r["echo"] is True and r["logprobs"] == 1 for r in server.requests)
            assert {r["max_tokens"] for r in server.requests} == {max_tokens}
        for a, b in zip(got.steps, want.steps, strict=True):
            assert a == pytest.approx(b, abs=1e-3), label
        assert got.tokens == want.tokens
        assert got.flops == want.flops


async def test_remote_ascore_and_costs(tiny_model_dir: Path) -> None:
    with EchoServer(tiny_model_dir, "llamacpp") as server:
        remote = _remote(server, tiny_model_dir)
        a = await remote.ascore(QUESTION, SOLUTIONS)
        b = remote.score(QUESTION, SOLUTIONS)
    assert a == b and a.flops == 0.0 and a.tokens > 0
    assert a.steps[2] == [EMPTY_SOLUTION_SCORE]
    assert remote.score(QUESTION, []) == ScoreResult(steps=[])


def test_remote_retries_transient_faults(tiny_model_dir: Path) -> None:
    with EchoServer(tiny_model_dir, "llamacpp") as server:
        remote = _remote(server, tiny_model_dir, max_retries=3)
        server.script = [503, "garbage", 429]
        res = remote.score(QUESTION, [SOLUTIONS[0]])
        assert len(server.requests) == 4 and len(res.steps[0]) == 4
        server.script = [500, 500, 500, 500]
        with pytest.raises(BackendError, match="after 4 attempt"):
            remote.score(QUESTION, [SOLUTIONS[0]])


def test_remote_errors_are_clear(tiny_model_dir: Path) -> None:
    with EchoServer(tiny_model_dir, "llamacpp") as server:
        remote = _remote(server, tiny_model_dir)
        server.script = ["nologprobs"]
        with pytest.raises(BackendError, match=r"no prompt logprobs.*echo=True and logprobs"):
            remote.score(QUESTION, [SOLUTIONS[0]])
        assert len(server.requests) == 1  # not retried: the server cannot do it
        server.script = [400]
        with pytest.raises(BackendError, match="rejected the request: HTTP 400") as err:
            remote.score(QUESTION, [SOLUTIONS[0]])
        assert err.value.status == 400 and err.value.backend == "likelihood:m"


def test_remote_options(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"tokenizer= .* or template="):
        OpenAILikelihoodVerifier("m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="max_tokens"):
        OpenAILikelihoodVerifier("m", template="{question}\n", max_tokens=2)
    with pytest.raises(ValueError, match="token_fold"):
        OpenAILikelihoodVerifier("m", template="{question}\n", token_fold="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="params"):
        OpenAILikelihoodVerifier("m", template="{question}\n", params=0)
    raw = OpenAILikelihoodVerifier("m", template="Q: {question}\nA: ")
    assert raw.prompt("1+2") == "Q: 1+2\nA: " and raw.tokenizer is None
    chat = OpenAILikelihoodVerifier("m", tokenizer=tiny_model_dir)
    assert chat.prompt("1+2") == "<s>1+2\n"
