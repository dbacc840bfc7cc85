"""LLMJudge against a scripted generator that implements the Generator protocol."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest

from langgraph_ttc.suite import task
from langgraph_ttc.types import Completion, GenerationRequest, Generator, Verifier
from langgraph_ttc.verifiers import OUTCOME_PROMPT, STEP_PROMPT, UNPARSEABLE_SCORE, LLMJudge

QUESTION = "12*3+4"


class ScriptedGenerator:
    """Replies with ``reply(prompt_text)``; records every call.

    ``logprob(prompt_text)`` gives the first token's log-probability, or the
    completions carry no logprobs when it is ``None``.
    """

    def __init__(
        self,
        reply: Callable[[str], str],
        *,
        logprob: Callable[[str], float] | None = None,
        params: int | None = 1000,
        name: str = "scripted",
    ) -> None:
        self.reply = reply
        self.logprob = logprob
        self.params = params
        self.name = name
        self.calls: list[list[GenerationRequest]] = []
        self.async_calls = 0

    @staticmethod
    def text_of(request: GenerationRequest) -> str:
        prompt = request.prompt
        return prompt if isinstance(prompt, str) else prompt[-1]["content"]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.calls.append(list(requests))
        out = []
        for r in requests:
            text = self.text_of(r)
            reply = self.reply(text)
            logprobs = None if self.logprob is None else (self.logprob(text), -0.1)
            out.append(
                [
                    Completion(
                        text=reply,
                        finish_reason="stop",
                        prompt_tokens=len(text),
                        completion_tokens=2,
                        logprobs=logprobs,
                    )
                ]
            )
        return out

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.async_calls += 1
        return self.generate(requests)


def oracle_reply(text: str) -> str:
    """Says Yes exactly when the solution in the prompt is right."""
    solution = text.split("solution:\n", 1)[1].rsplit("\nIs ", 1)[0]
    return " Yes." if task.check(solution, QUESTION) else "No, step 2 is wrong."


RIGHT = task.reference_solution(QUESTION)
WRONG = "12*3=36\n36+4=41\n#### 41"


def test_is_a_verifier() -> None:
    gen = ScriptedGenerator(oracle_reply)
    assert isinstance(gen, Generator)
    judge = LLMJudge(gen)
    assert isinstance(judge, Verifier)
    assert judge.name == "judge:scripted"


def test_parsed_verdicts_one_request_per_solution_one_call() -> None:
    gen = ScriptedGenerator(oracle_reply)
    result = LLMJudge(gen).score(QUESTION, [RIGHT, WRONG, RIGHT])
    assert result.steps == [[1.0], [0.0], [1.0]]
    assert len(gen.calls) == 1 and len(gen.calls[0]) == 3
    req = gen.calls[0][0]
    assert req.temperature == 0.0 and req.n == 1 and req.seed == 0
    assert isinstance(req.prompt, list) and req.prompt[0]["role"] == "user"
    assert req.prompt[0]["content"] == OUTCOME_PROMPT.format(
        question=QUESTION, solution=RIGHT, yes="Yes", no="No"
    )


def test_logprobs_give_probabilities() -> None:
    gen = ScriptedGenerator(oracle_reply, logprob=lambda _: math.log(0.8))
    result = LLMJudge(gen).score(QUESTION, [RIGHT, WRONG])
    # Yes with p=0.8 -> 0.8; No with p=0.8 -> 1 - 0.8.
    assert result.steps == [[pytest.approx(0.8)], [pytest.approx(0.2)]]


def test_unparseable_reply_is_half_with_or_without_logprobs() -> None:
    for logprob in (None, lambda _: -0.01):
        gen = ScriptedGenerator(lambda _: "Maybe, hard to say", logprob=logprob)
        assert LLMJudge(gen).score(QUESTION, [RIGHT]).steps == [[UNPARSEABLE_SCORE]]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Yes", 1.0),
        ("  **yes**, it is", 1.0),
        ('"YES"', 1.0),
        ("No", 0.0),
        ("no.", 0.0),
        ("Not sure", UNPARSEABLE_SCORE),
        ("Yesterday", UNPARSEABLE_SCORE),
        ("", UNPARSEABLE_SCORE),
    ],
)
def test_reply_parsing(reply: str, expected: float) -> None:
    gen = ScriptedGenerator(lambda _: reply)
    assert LLMJudge(gen).score(QUESTION, [RIGHT]).steps == [[expected]]


def test_custom_verdict_words() -> None:
    gen = ScriptedGenerator(lambda t: "Correct" if "#### 40" in t else "Incorrect")
    judge = LLMJudge(gen, yes="Correct", no="Incorrect", prompt_template="{question}\n{solution}")
    assert judge.score(QUESTION, [RIGHT, WRONG]).steps == [[1.0], [0.0]]
    assert gen.calls[0][0].prompt[0]["content"] == f"{QUESTION}\n{RIGHT}"  # type: ignore[index]


def test_per_step_scores_every_prefix_in_one_call() -> None:
    def reply(text: str) -> str:
        return "No" if "41" in text else "Yes"

    gen = ScriptedGenerator(reply)
    judge = LLMJudge(gen, per_step=True)
    result = judge.score(QUESTION, [RIGHT, WRONG, "\n"])
    # WRONG goes wrong at step 2; the empty solution gets the documented [0.0].
    assert result.steps == [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0]]
    assert len(gen.calls) == 1 and len(gen.calls[0]) == 6
    prompts = [ScriptedGenerator.text_of(r) for r in gen.calls[0][:3]]
    steps = RIGHT.split("\n")
    for k, prompt in enumerate(prompts):
        assert prompt == STEP_PROMPT.format(
            question=QUESTION, solution="\n".join(steps[: k + 1]), yes="Yes", no="No"
        )


def test_tokens_and_flops() -> None:
    gen = ScriptedGenerator(oracle_reply, params=1000)
    result = LLMJudge(gen).score(QUESTION, [RIGHT, WRONG])
    prompts = [ScriptedGenerator.text_of(r) for r in gen.calls[0]]
    assert result.tokens == sum(len(p) + 2 for p in prompts)
    assert result.flops == 2.0 * 1000 * result.tokens
    gen_unknown = ScriptedGenerator(oracle_reply, params=None)
    assert LLMJudge(gen_unknown).score(QUESTION, [RIGHT]).flops == 0.0


def test_raw_text_prompt() -> None:
    gen = ScriptedGenerator(oracle_reply)
    LLMJudge(gen, chat=False).score(QUESTION, [RIGHT])
    assert isinstance(gen.calls[0][0].prompt, str)


async def test_ascore_uses_agenerate() -> None:
    gen = ScriptedGenerator(oracle_reply, logprob=lambda _: math.log(0.9))
    judge = LLMJudge(gen)
    result = await judge.ascore(QUESTION, [RIGHT, WRONG])
    assert gen.async_calls == 1
    assert result == judge.score(QUESTION, [RIGHT, WRONG])


def test_empty_batch_makes_no_call() -> None:
    gen = ScriptedGenerator(oracle_reply)
    assert LLMJudge(gen).score(QUESTION, []).steps == []
    assert LLMJudge(gen).score(QUESTION, [""]).steps == [[0.0]]
    assert gen.calls == []


def test_nan_logprob_raises_naming_judge_and_solution() -> None:
    gen = ScriptedGenerator(lambda _: "Yes", logprob=lambda t: math.nan if "41" in t else -0.1)
    with pytest.raises(ValueError, match=r"'judge:scripted'.*solution 1"):
        LLMJudge(gen).score(QUESTION, [RIGHT, WRONG])


def test_missing_completion_is_an_error() -> None:
    class Empty(ScriptedGenerator):
        def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
            return [[] for _ in requests]

    with pytest.raises(ValueError, match="no completion for solution 0"):
        LLMJudge(Empty(oracle_reply)).score(QUESTION, [RIGHT])


def test_bad_options() -> None:
    gen = ScriptedGenerator(oracle_reply)
    with pytest.raises(TypeError, match="generator"):
        LLMJudge(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prompt_template"):
        LLMJudge(gen, prompt_template="{question} only")
    with pytest.raises(ValueError, match="prompt_template"):
        LLMJudge(gen, prompt_template="{question} {solution} {extra}")
    with pytest.raises(ValueError, match="yes and no"):
        LLMJudge(gen, yes="ok", no="OK")
    with pytest.raises(ValueError, match="no"):
        LLMJudge(gen, no="")
    with pytest.raises(ValueError, match="max_tokens"):
        LLMJudge(gen, max_tokens=0)
    with pytest.raises(TypeError, match="solutions"):
        LLMJudge(gen).score(QUESTION, RIGHT)
