"""OpenAIGenerator against the habits of local servers (llama.cpp, Ollama, vLLM), scripted.

The scripted server is ``FakeOpenAI`` of ``test_models_openai``; the same
behaviours against a real llama-cpp-python server are in
``tests/integration/test_llamacpp.py``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from langgraph_ttc.models import BackendError, OpenAIGenerator
from langgraph_ttc.models.openai_compat import (
    IdenticalSamplesWarning,
    bos_verdict,
    identical_samples,
    is_openai_api,
    sampling_fields,
)
from langgraph_ttc.suite.tokenizer import build_tokenizer
from langgraph_ttc.types import Completion, GenerationRequest
from tests.test_models_openai import FakeOpenAI

MSGS = [{"role": "user", "content": "1+2"}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    yield server
    server.close()


def _gen(fake: FakeOpenAI, **kw: Any) -> OpenAIGenerator:
    kw.setdefault("retry_backoff", 0.01)
    kw.setdefault("max_backoff", 0.05)
    return OpenAIGenerator("m", base_url=fake.base_url, api_key="k", **kw)


# ---------------------------------------------------------------------- BOS


def test_bos_is_left_out_for_a_server_that_adds_its_own(fake: FakeOpenAI) -> None:
    fake.adds_bos = True
    gen = _gen(fake, mode="completions", tokenizer=build_tokenizer())
    gen.generate([GenerationRequest(MSGS, prefix="1+2=3\n", n=2)])
    probe, *rest = fake.bodies
    assert probe["max_tokens"] == 1 and probe["temperature"] == 0.0
    assert probe["prompt"] == "1+2\n1+2=3\n"
    assert gen.server_adds_bos is True
    assert [b["prompt"] for b in rest] == ["1+2\n1+2=3\n"] * 2
    gen.generate([GenerationRequest(MSGS)])  # no second probe
    assert len(fake.bodies) == 4 and fake.bodies[-1]["prompt"] == "1+2\n"


def test_bos_is_kept_for_a_server_that_adds_none(fake: FakeOpenAI) -> None:
    gen = _gen(fake, mode="completions", tokenizer=build_tokenizer())
    gen.generate([GenerationRequest(MSGS)])
    assert gen.server_adds_bos is False
    assert [b["prompt"] for b in fake.bodies] == ["1+2\n", "<s>1+2\n"]


def test_a_given_bos_setting_is_not_probed(fake: FakeOpenAI) -> None:
    for adds, prompt in ((True, "1+2\n"), (False, "<s>1+2\n")):
        fake.bodies.clear()
        _gen(fake, mode="completions", tokenizer=build_tokenizer(), server_adds_bos=adds).generate(
            [GenerationRequest(MSGS)]
        )
        assert [b["prompt"] for b in fake.bodies] == [prompt]


def test_raw_text_prompts_are_sent_as_given(fake: FakeOpenAI) -> None:
    fake.adds_bos = True
    _gen(fake, mode="completions", tokenizer=build_tokenizer()).generate(
        [GenerationRequest("<s>raw")]
    )
    assert [b["prompt"] for b in fake.bodies] == ["<s>raw"]  # no probe, nothing stripped


def test_a_probe_without_usage_warns_and_keeps_the_bos(fake: FakeOpenAI) -> None:
    fake.usage = False
    gen = _gen(fake, mode="completions", tokenizer=build_tokenizer())
    with pytest.warns(RuntimeWarning, match="cannot tell whether the server adds a BOS"):
        gen.generate([GenerationRequest(MSGS)])
    assert fake.bodies[-1]["prompt"] == "<s>1+2\n"
    assert gen.warnings_seen and "server_adds_bos" in gen.warnings_seen[0]


def test_bos_verdict() -> None:
    assert bos_verdict(11, 10) is True
    assert bos_verdict(10, 10) is False
    assert bos_verdict(13, 10) is None and bos_verdict(None, 10) is None
    assert bos_verdict(True, 0) is None


# ---------------------------------------------------------------------- chat continuation


def test_empty_chat_continuations_are_an_error_that_says_so(fake: FakeOpenAI) -> None:
    gen = _gen(fake)
    fake.texts[json.dumps([*MSGS, {"role": "assistant", "content": "1"}])] = ""
    with pytest.raises(BackendError, match="continue_final_message") as exc:
        gen.generate([GenerationRequest(MSGS, prefix="1", n=2)])
    assert "mode='completions'" in exc.value.message and not exc.value.retryable


def test_one_real_continuation_makes_later_empty_ones_genuine(fake: FakeOpenAI) -> None:
    gen = _gen(fake)
    gen.generate([GenerationRequest(MSGS, prefix="1")])
    assert gen.continues_prefix is True
    fake.texts[json.dumps([*MSGS, {"role": "assistant", "content": "1+2=3\n"}])] = ""
    (out,) = gen.generate([GenerationRequest(MSGS, prefix="1+2=3\n")])
    assert out[0].text == ""


def test_empty_answers_without_a_prefix_are_not_checked(fake: FakeOpenAI) -> None:
    fake.texts[json.dumps(MSGS)] = ""
    (out,) = _gen(fake).generate([GenerationRequest(MSGS)])
    assert out[0].text == ""


def test_continues_prefix_settings(fake: FakeOpenAI) -> None:
    fake.texts[json.dumps([*MSGS, {"role": "assistant", "content": "1"}])] = ""
    (out,) = _gen(fake, continues_prefix=True).generate([GenerationRequest(MSGS, prefix="1")])
    assert out[0].text == ""
    sent = len(fake.bodies)
    with pytest.raises(BackendError, match="continue_final_message"):
        _gen(fake, continues_prefix=False).generate([GenerationRequest(MSGS, prefix="1")])
    assert len(fake.bodies) == sent  # refused before any request


# ---------------------------------------------------------------------- sampling fields


def test_neutral_sampling_fields_are_sent(fake: FakeOpenAI) -> None:
    _gen(fake).generate([GenerationRequest("q", temperature=0.0)])
    body = fake.bodies[0]
    assert (body["top_k"], body["min_p"]) == (0, 0.0)
    assert body["repetition_penalty"] == body["repeat_penalty"] == 1.0


def test_user_sampling_fields_win_and_extra_body_wins_over_them(fake: FakeOpenAI) -> None:
    gen = _gen(fake, top_k=20, repetition_penalty=1.05, extra_body={"min_p": 0.1})
    gen.generate([GenerationRequest("q")])
    body = fake.bodies[0]
    assert (body["top_k"], body["min_p"]) == (20, 0.1)
    assert body["repetition_penalty"] == body["repeat_penalty"] == 1.05


def test_no_sampling_fields_when_switched_off_or_to_openai(fake: FakeOpenAI) -> None:
    _gen(fake, neutral_sampling=False).generate([GenerationRequest("q")])
    assert not {"top_k", "min_p", "repeat_penalty", "repetition_penalty"} & set(fake.bodies[0])
    _gen(fake, neutral_sampling=False, min_p=0.2).generate([GenerationRequest("q")])
    assert fake.bodies[1]["min_p"] == 0.2 and "top_k" not in fake.bodies[1]
    assert OpenAIGenerator("gpt-x", base_url="https://api.openai.com/v1").sampling == {}
    assert is_openai_api("https://eu.api.openai.com/v1") and not is_openai_api(fake.base_url)
    assert sampling_fields(neutral=False) == {}


def test_a_server_rejecting_the_neutral_fields_gets_requests_without_them(
    fake: FakeOpenAI,
) -> None:
    fake.rejects = {"top_k", "min_p", "repetition_penalty", "repeat_penalty"}
    gen = _gen(fake)
    (out,) = gen.generate([GenerationRequest("q", n=2)])
    assert len(out) == 2 and gen.sampling == {}  # dropped once and for all
    sent = len(fake.bodies)
    gen.generate([GenerationRequest("q")])
    assert len(fake.bodies) == sent + 1  # no second 422
    # a field the user set is not dropped: the rejection reaches the user
    user = _gen(fake, min_p=0.05)
    with pytest.raises(BackendError, match=r"Unexpected fields.*min_p") as exc:
        user.generate([GenerationRequest("q")])
    assert exc.value.status == 422 and user.sampling == {"min_p": 0.05}


def test_a_422_about_something_else_is_not_retried_without_fields(fake: FakeOpenAI) -> None:
    fake.rejects = {"seed"}
    gen = _gen(fake)
    with pytest.raises(BackendError, match="seed"):
        gen.generate([GenerationRequest("q", seed=3)])
    assert len(fake.bodies) == 1 and gen.sampling["top_k"] == 0


# ---------------------------------------------------------------------- repeated samples


def test_identical_samples_at_temperature_warn(fake: FakeOpenAI) -> None:
    fake.honor_n = True
    fake.same_text = True
    fake.tokens_each = 20
    gen = _gen(fake)
    with pytest.warns(IdenticalSamplesWarning, match="repeats one seed"):
        (out,) = gen.generate([GenerationRequest("q", n=4, temperature=0.8, seed=1)])
    assert len({c.text for c in out}) == 1
    assert len(gen.warnings_seen) == 1 and "all 4 samples of request 0" in gen.warnings_seen[0]


@pytest.mark.parametrize(
    ("req", "same"),
    [
        (GenerationRequest("q", n=4, temperature=0.0), True),  # greedy repeats by design
        (GenerationRequest("q", n=1, temperature=0.8), True),
        (GenerationRequest("q", n=4, temperature=0.8), False),  # distinct samples
    ],
)
def test_no_warning_where_repeats_are_expected(
    fake: FakeOpenAI, req: GenerationRequest, same: bool
) -> None:
    fake.honor_n = True
    fake.same_text = same
    fake.tokens_each = 20
    gen = _gen(fake)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdenticalSamplesWarning)
        gen.generate([req])
    assert gen.warnings_seen == []


def test_identical_samples_rule() -> None:
    req = GenerationRequest("q", n=3, temperature=0.7)

    def done(text: str, tokens: int) -> Completion:
        return Completion(text, "stop", 5, tokens)

    assert identical_samples(req, [done("x" * 20, 20)] * 3)
    assert not identical_samples(req, [done("x" * 5, 5)] * 3)  # a short step repeats often
    assert not identical_samples(req, [done("x" * 20, 20)] * 2)  # not all came back
    assert not identical_samples(req, [done("a" * 20, 20), done("b" * 20, 20), done("a" * 20, 20)])


# ---------------------------------------------------------------------- top logprobs


def test_chat_top_logprobs(fake: FakeOpenAI) -> None:
    fake.texts[json.dumps(MSGS)] = "ab\ncd"
    fake.logprobs = [
        {
            "token": t,
            "logprob": -0.1 * (k + 1),
            "top_logprobs": [
                {"token": t, "logprob": -0.1 * (k + 1)},
                {"token": "z", "logprob": -3.0},
            ],
        }
        for k, t in enumerate(["a", "b", "\n", "c", "d"])
    ]
    (out,) = _gen(fake).generate([GenerationRequest(MSGS, stop=("\n",), top_logprobs=2)])
    body = fake.bodies[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 2
    c = out[0]
    assert c.text == "ab" and c.logprobs is None  # only the alternatives were asked for
    assert c.top_logprobs == (
        {"a": pytest.approx(-0.1), "z": -3.0},
        {"b": pytest.approx(-0.2), "z": -3.0},
        {"\n": pytest.approx(-0.3), "z": -3.0},
    )


def test_completions_logprobs_and_top_logprobs(fake: FakeOpenAI) -> None:
    fake.texts[json.dumps("q")] = "12\n3"
    fake.completion_logprobs = {
        "tokens": ["1", "2", "\n", "3"],
        "token_logprobs": [-0.5, -0.25, -0.125, -1.0],
        "top_logprobs": [{"1": -0.5, "7": -2.0}, {"2": -0.25}, {"\n": -0.125}, {"3": -1.0}],
        "text_offset": [0, 1, 2, 3],
    }
    gen = _gen(fake, mode="completions")
    (out,) = gen.generate([GenerationRequest("q", logprobs=True, top_logprobs=2, stop=("\n",))])
    assert fake.bodies[0]["logprobs"] == 2
    c = out[0]
    assert c.logprobs == (-0.5, -0.25, -0.125)  # up to and with the stop token
    assert c.top_logprobs == ({"1": -0.5, "7": -2.0}, {"2": -0.25}, {"\n": -0.125})
    (plain,) = gen.generate([GenerationRequest("q", logprobs=True)])
    assert fake.bodies[-1]["logprobs"] == 1  # at least the chosen token's, on every server
    assert plain[0].logprobs == (-0.5, -0.25, -0.125, -1.0) and plain[0].top_logprobs is None


def test_top_logprobs_missing_from_the_reply_are_none(fake: FakeOpenAI) -> None:
    fake.logprobs = [{"token": "s", "logprob": -0.1}]
    (out,) = _gen(fake).generate([GenerationRequest(MSGS, top_logprobs=3, logprobs=True)])
    assert out[0].top_logprobs is None and out[0].logprobs is not None


def test_sample_warnings_for_the_run_state() -> None:
    """The engine's check, for any generator: what a driver can put in the run's state."""
    from langgraph_ttc.engine.calls import GenerateCall, sample_warnings

    gen = OpenAIGenerator("m", base_url="http://127.0.0.1:9/v1")
    reqs = [GenerationRequest("q", n=2, temperature=0.8), GenerationRequest("r", n=2)]
    same = Completion("the same long sample text", "stop", 3, 20)
    other = Completion("another long sample text!", "stop", 3, 20)
    call = GenerateCall(gen, reqs, run_name="best_of_n/generate")
    notes = sample_warnings(call, [[same, same], [same, other]])
    assert notes == [
        "generator 'openai:m' returned 2 identical samples for request 0 at temperature 0.8: "
        "a repeated seed?"
    ]
    assert sample_warnings(call, [[same, other], [other, same]]) == []
