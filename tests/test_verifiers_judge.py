"""LLMJudge against a scripted generator that implements the Generator protocol."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from fakes import ScriptedGenerator as Scripted
from fakes import ScriptInput

from langgraph_ttc.suite import task
from langgraph_ttc.types import Completion, GenerationRequest, Generator, Verifier
from langgraph_ttc.verifiers import OUTCOME_PROMPT, STEP_PROMPT, UNPARSEABLE_SCORE, LLMJudge
from langgraph_ttc.verifiers.judge import CRITIQUE_PROMPT, REASONING_PREFIX, VERDICT_CUE

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


# ---------------------------------------------------------------- P(yes) from top logprobs
#
# The generative-verifier path, on tests/fakes.py's ScriptedGenerator: it returns
# the scripted top logprobs of each position (the k most likely) when a request
# asks for them, and none at all with top_logprobs=False.

LN = math.log


def judge_backend(
    verdict: Callable[[ScriptInput], str],
    tops: Callable[[ScriptInput, str], list[dict[str, float]]],
    **options: Any,
) -> Scripted:
    return Scripted(
        script=verdict, top_logprobs=tops, params=1000, name="scripted-judge", **options
    )


def solution_in(inp: ScriptInput) -> str:
    return oracle_solution(inp.question)


def oracle_solution(prompt: str) -> str:
    """The solution shown in a judge prompt (CRITIQUE_PROMPT's, or OUTCOME/STEP_PROMPT's)."""
    if "[Solution]" in prompt:
        return prompt.split("[Solution]\n\n", 1)[1].split("\n\nReview", 1)[0]
    return prompt.split("solution:\n", 1)[1].rsplit("\nIs ", 1)[0]


def right_or_wrong(right: dict[str, float], wrong: dict[str, float]) -> Any:
    def tops(inp: ScriptInput, text: str) -> list[dict[str, float]]:
        return [right if task.check(solution_in(inp), QUESTION) else wrong]

    return tops


def test_top_logprobs_give_p_yes_over_yes_and_no() -> None:
    tops = right_or_wrong(
        {" Yes": LN(0.6), " No": LN(0.3), " Maybe": LN(0.1)},
        {" Yes": LN(0.2), " No": LN(0.7), " Maybe": LN(0.1)},
    )
    gen = judge_backend(lambda inp: " Yes", tops)
    result = LLMJudge(gen, top_logprobs=5).score(QUESTION, [RIGHT, WRONG])
    assert result.steps == [[pytest.approx(0.6 / 0.9)], [pytest.approx(0.2 / 0.9)]]
    (call,) = gen.calls
    assert [(r.top_logprobs, r.logprobs, r.temperature, r.prefix) for r in call] == [
        (5, True, 0.0, "")
    ] * 2


def test_every_yes_like_token_counts_and_only_those() -> None:
    position = {
        " Yes": LN(0.3),
        "yes": LN(0.2),
        "**Yes": LN(0.1),
        " No": LN(0.15),
        "NO": LN(0.05),
        "Yesterday": LN(0.1),  # not the word yes
        " Not": LN(0.1),  # not the word no
    }
    gen = judge_backend(lambda inp: " Yes", lambda inp, text: [position])
    (score,) = LLMJudge(gen, top_logprobs=20).score(QUESTION, [RIGHT]).steps
    assert score == [pytest.approx(0.6 / 0.8)]
    words = judge_backend(
        lambda inp: "Correct", lambda inp, text: [{"Correct": LN(0.5), " Incorrect": LN(0.25)}]
    )
    judge = LLMJudge(words, yes="Correct", no="Incorrect", top_logprobs=2)
    assert judge.score(QUESTION, [RIGHT]).steps == [[pytest.approx(2 / 3)]]


def test_only_the_top_k_the_backend_returned_count() -> None:
    position = {" Yes": LN(0.5), " Maybe": LN(0.3), " No": LN(0.2)}
    for k, expected in ((2, 1.0), (3, 0.5 / 0.7)):
        gen = judge_backend(lambda inp: " Yes", lambda inp, text: [position])
        assert LLMJudge(gen, top_logprobs=k).score(QUESTION, [RIGHT]).steps == [
            [pytest.approx(expected)]
        ]
        assert gen.calls[0][0].top_logprobs == k


def test_formatting_before_the_verdict_is_skipped() -> None:
    def tops(inp: ScriptInput, text: str) -> list[dict[str, float]]:
        return [{"**": LN(0.95), "Sure": LN(0.05)}, {"No": LN(0.7), "Yes": LN(0.2)}, {"**": 0.0}]

    gen = judge_backend(lambda inp: "**No**", tops)
    assert LLMJudge(gen, top_logprobs=5).score(QUESTION, [RIGHT]).steps == [
        [pytest.approx(0.2 / 0.9)]
    ]


def test_no_verdict_is_neutral_and_logged_or_an_error(caplog: pytest.LogCaptureFixture) -> None:
    def tops(inp: ScriptInput, text: str) -> list[dict[str, float]]:
        return [{"Let": LN(0.8), " Hmm": LN(0.2)}, {" Yes": LN(0.9)}]

    gen = judge_backend(lambda inp: "Let me see. Yes", tops)
    with caplog.at_level(logging.WARNING, logger="langgraph_ttc.verifiers.judge"):
        result = LLMJudge(gen, top_logprobs=5).score(QUESTION, [RIGHT, WRONG])
    assert result.steps == [[UNPARSEABLE_SCORE], [UNPARSEABLE_SCORE]]
    assert "'judge:scripted-judge'" in caplog.text and "solution 1" in caplog.text
    strict = LLMJudge(gen, top_logprobs=5, on_missing="error")
    with pytest.raises(ValueError, match=r"'judge:scripted-judge'.*'Yes' or 'No'.*solution 0"):
        strict.score(QUESTION, [RIGHT])
    empty = judge_backend(lambda inp: "", lambda inp, text: [])
    with pytest.raises(ValueError, match="verdict position"):
        LLMJudge(empty, top_logprobs=5, on_missing="error").score(QUESTION, [RIGHT])


def test_a_backend_without_top_logprobs_is_a_clear_error() -> None:
    gen = Scripted(script=lambda inp: "Yes", top_logprobs=False, name="plain")
    with pytest.raises(ValueError, match=r"generator 'plain' returned no top_logprobs"):
        LLMJudge(gen, top_logprobs=5).score(QUESTION, [RIGHT])
    # Without top_logprobs the same backend is read from its reply, as before.
    assert LLMJudge(gen).score(QUESTION, [RIGHT]).steps == [[1.0]]


def test_nan_top_logprob_raises_naming_judge_and_solution() -> None:
    tops = right_or_wrong({" Yes": LN(0.9)}, {" Yes": math.nan, " No": LN(0.5)})
    gen = judge_backend(lambda inp: " Yes", tops)
    with pytest.raises(ValueError, match=r"'judge:scripted-judge'.*solution 1"):
        LLMJudge(gen, top_logprobs=5).score(QUESTION, [RIGHT, WRONG])


# ---------------------------------------------------------------- reasoning first (ThinkPRM)


def critic(inp: ScriptInput) -> str:
    """Critiques each step (as ThinkPRM does), then runs on into its own verdict."""
    req = inp.request
    if req.top_logprobs:  # the verdict request: its prefix ends with the cue
        return " No" if "incorrect" in req.prefix else " Yes"
    lines = []
    for k, step in enumerate(oracle_solution(inp.question).split("\n"), 1):
        good = step in RIGHT.split("\n")  # the reference's own steps are the right ones
        lines.append(f"Step {k}: {step} is \\boxed{{{'correct' if good else 'incorrect'}}}")
    return "\n".join(lines) + "\nIs the solution correct? Yes"  # past the stop: cut by the judge


def critic_tops(inp: ScriptInput, text: str) -> list[dict[str, float]]:
    if "incorrect" in inp.request.prefix:
        return [{" No": LN(0.85), " Yes": LN(0.1)}]
    return [{" Yes": LN(0.9), " No": LN(0.05)}]


def test_reasoning_then_verdict_from_top_logprobs() -> None:
    gen = judge_backend(critic, critic_tops)
    judge = LLMJudge(gen, top_logprobs=20, reasoning_tokens=512)
    result = judge.score(QUESTION, [RIGHT, WRONG])
    assert result.steps == [[pytest.approx(0.9 / 0.95)], [pytest.approx(0.1 / 0.95)]]
    critiques, verdicts = gen.calls  # one batched call per phase
    assert len(critiques) == len(verdicts) == 2
    for req in critiques:
        assert req.prefix == REASONING_PREFIX and req.stop == ("Is the solution correct?",)
        assert req.max_tokens == 512 and req.top_logprobs == 0 and req.temperature == 0.0
        assert req.prompt[0]["content"] == CRITIQUE_PROMPT.format(  # type: ignore[index]
            question=QUESTION, solution=RIGHT if req is critiques[0] else WRONG
        )
    for req in verdicts:
        assert req.prefix.startswith(REASONING_PREFIX + "Step 1: ")
        assert req.prefix.endswith("}" + VERDICT_CUE) and req.prefix.count(VERDICT_CUE) == 1
        assert req.top_logprobs == 20 and req.stop == () and req.max_tokens == 8
    assert [r.prompt for r in verdicts] == [r.prompt for r in critiques]
    assert "incorrect" in verdicts[1].prefix and "incorrect" not in verdicts[0].prefix
    completions = [c for call in gen.calls for c in call]
    assert result.tokens > 0 and len(completions) == 4
    assert result.flops == 2.0 * 1000 * result.tokens


def test_reasoning_tokens_count_both_phases() -> None:
    gen = judge_backend(critic, critic_tops)
    one_phase = judge_backend(critic, critic_tops)
    both = LLMJudge(gen, top_logprobs=20, reasoning_tokens=512).score(QUESTION, [RIGHT])
    verdict_only = LLMJudge(one_phase, top_logprobs=20).score(QUESTION, [RIGHT])
    critique_req = gen.calls[0][0]
    critique = gen._sample(critique_req, 0)  # the same deterministic sample the judge got
    assert both.tokens >= critique.prompt_tokens + critique.completion_tokens
    assert both.tokens > verdict_only.tokens


def test_reasoning_per_step_prefixes_use_the_step_delimiter() -> None:
    chat_right = RIGHT.replace("\n", "\n\n")
    gen = judge_backend(critic, critic_tops)
    judge = LLMJudge(gen, per_step=True, top_logprobs=5, reasoning_tokens=64, step_delimiter="\n\n")
    result = judge.score(QUESTION, [chat_right])
    steps = RIGHT.split("\n")
    assert len(result.steps[0]) == len(steps)
    shown = [r.prompt[0]["content"] for r in gen.calls[0]]  # type: ignore[index]
    for k, prompt in enumerate(shown):
        assert "\n\n".join(steps[: k + 1]) in prompt


async def test_reasoning_judge_async_equals_sync() -> None:
    sync_gen, async_gen = judge_backend(critic, critic_tops), judge_backend(critic, critic_tops)
    sync = LLMJudge(sync_gen, top_logprobs=20, reasoning_tokens=256).score(QUESTION, [RIGHT, WRONG])
    judge = LLMJudge(async_gen, top_logprobs=20, reasoning_tokens=256)
    assert await judge.ascore(QUESTION, [RIGHT, WRONG]) == sync
    assert async_gen.modes == ["async", "async"]


def test_generative_options_are_checked() -> None:
    gen = Scripted()
    with pytest.raises(ValueError, match="top_logprobs"):
        LLMJudge(gen, top_logprobs=21)
    with pytest.raises(ValueError, match="top_logprobs"):
        LLMJudge(gen, top_logprobs=-1)
    with pytest.raises(ValueError, match="reasoning_tokens"):
        LLMJudge(gen, reasoning_tokens=-5)
    with pytest.raises(ValueError, match="on_missing"):
        LLMJudge(gen, top_logprobs=5, on_missing="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="verdict_cue"):
        LLMJudge(gen, reasoning_tokens=64, verdict_cue="  ")
    with pytest.raises(ValueError, match="step_delimiter"):
        LLMJudge(gen, step_delimiter="")
