"""Scripted stand-ins for a generator and a verifier, for fast offline tests.

Both follow the real protocols of ``langgraph_ttc.types`` exactly (sync and
async twins, usage counts) and record every call, so tests can check what a
graph asked for (batching, seeds, prefixes) as well as what it answered.

``ScriptedGenerator`` is, by default, a noisy solver of the bundled
arithmetic task: it does the task's steps in the task's order (multiplications
first, one ``a<op>b=c`` a line, then ``#### <answer>``), gets each step wrong
with probability ``error_rate`` (later steps carry the error on), continues
any partial solution given as ``prefix``, and cuts its text at the first stop
string of the request, as a server does (so it stops after one step when asked
to stop at its step delimiter). Its output is a pure function of (prompt,
prefix, seed, sample index): the same request gives the same text, sync or async.

With ``delimiter="\\n\\n"`` it writes like a chat model: steps separated by a
blank line, and with ``explain=True`` each arithmetic step is two lines (a
sentence, then the equation), so a search that cuts at ``"\\n"`` instead
gets half steps. Asked for ``top_logprobs``, it returns them per position:
``top_logprobs(ScriptInput, text)`` gives them (token text -> log-probability),
or each whitespace-led word of the text is one token with log-probability 0.

``ScriptedVerifier`` is, by default, a PRM with perfect knowledge: a step
scores ``good`` when the solution so far matches the task's reference
solution, else ``bad``. It cuts solutions at its ``step_delimiter`` (a step's
equation is its last line), so a solution cut elsewhere scores ``bad``.

Usage::

    gen = ScriptedGenerator(error_rate=0.3, params=1_000)
    prm = ScriptedVerifier()
    graph = create_beam_search_graph(gen, verifier=prm).compile()
    graph.invoke({"question": "34*7-95+84*4"}, context=TTCContext(seed=1))
    assert gen.batch_sizes == [1, 4, 4, ...]   # requests per generate call
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.router import ComputePolicy
from langgraph_ttc.suite.task import evaluate, reference_solution
from langgraph_ttc.types import (
    Candidate,
    ChatMessage,
    Completion,
    GenerationRequest,
    Prompt,
    ScoreResult,
)

__all__ = [
    "ScriptInput",
    "ScriptedGenerator",
    "ScriptedVerifier",
    "messages_of",
    "probe",
    "question_of",
    "shipped_policy_unfitted",
    "solve_noisily",
]

_STEP_RE = re.compile(r"^\s*(-?\d+)\s*([+\-*])\s*(-?\d+)\s*=\s*(-?\d+)\s*$")


@dataclass(frozen=True)
class ScriptInput:
    """What a script sees for one sample.

    Attributes:
        request: The whole request.
        sample: The sample's index within the request (0 .. n-1).
        rng: A random source seeded from (prompt, prefix, seed, sample); seeded
            from (prompt, prefix) alone when ``temperature == 0``.
        question: The first user turn (or the str prompt).
        attempts: Earlier assistant turns in the prompt (revisions).
    """

    request: GenerationRequest
    sample: int
    rng: random.Random
    question: str
    attempts: int


def question_of(prompt: Prompt) -> str:
    """The question of a prompt: the first line of a str, or the first user turn."""
    if isinstance(prompt, str):
        return prompt.split("\n", 1)[0]
    return next((m["content"] for m in prompt if m.get("role") == "user"), "")


def messages_of(prompt: Prompt) -> list[ChatMessage]:
    """A prompt's chat messages (raises on a str prompt: the test expected chat)."""
    if isinstance(prompt, str):
        raise TypeError(f"expected chat messages, got the str prompt {prompt!r}")
    return prompt


def probe(index: int, answer: str, score: float = 0.5, *, text: str | None = None) -> Candidate:
    """A finished, scored router probe, as the router writes it into the state."""
    text = text if text is not None else f"#### {answer}"
    return Candidate(
        id=f"probe-{index}",
        text=text,
        steps=text.split("\n"),
        done=True,
        answer=answer,
        score=score,
        step_scores=[score],
        source="probe",
    )


def _digest(*parts: object) -> int:
    text = "\x1f".join(repr(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def solve_noisily(
    question: str,
    prefix: str,
    rng: random.Random,
    error_rate: float,
    *,
    one_step: bool,
    delimiter: str = "\n",
    explain: bool = False,
) -> str:
    """Continue a solution of a suite question, each new step wrong with ``error_rate``.

    Steps already in ``prefix`` are taken as written (their results carry
    on; every line of the form ``a<op>b=c`` counts). Returns the next step
    (``one_step``) or all remaining steps joined by ``delimiter``, with no
    trailing delimiter. With ``explain``, an arithmetic step is a sentence
    and the equation on two lines.
    """
    written = [
        int(m.group(4))
        for m in (_STEP_RE.match(line) for line in prefix.splitlines())
        if m is not None
    ]
    tokens = re.findall(r"\d+|[+\-*]", question.replace(" ", ""))
    nums, ops = [int(t) for t in tokens[0::2]], tokens[1::2]
    lines: list[str] = []
    done = 0

    def result(a: int, op: str, b: int) -> int:
        # The task's step order, replayed with the values written so far.
        nonlocal done
        if done < len(written):
            value = written[done]
        else:
            value = a * b if op == "*" else a + b if op == "+" else a - b
            if rng.random() < error_rate:
                value += rng.choice([-1, 1]) * rng.randint(1, 9)
            equation = f"{a}{op}{b}={value}"
            lines.append(f"We compute {a} {_WORDS[op]} {b}.\n{equation}" if explain else equation)
        done += 1
        return value

    terms, signs = [nums[0]], []
    for op, b in zip(ops, nums[1:], strict=True):
        if op == "*":
            terms[-1] = result(terms[-1], "*", b)
        else:
            signs.append(op)
            terms.append(b)
    acc = terms[0]
    for op, b in zip(signs, terms[1:], strict=True):
        acc = result(acc, op, b)
    lines.append(f"#### {acc}")
    return lines[0] if one_step else delimiter.join(lines)


_WORDS = {"*": "times", "+": "plus", "-": "minus"}


def cut_at_stops(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the first stop string (a server's cut), and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def word_tokens(text: str) -> list[str]:
    """A deterministic tokenisation for scripted logprobs: whitespace-led words."""
    return re.findall(r"\s*\S+|\s+", text)


class ScriptedGenerator:
    """A deterministic ``Generator`` for tests (see the module docstring).

    Args:
        error_rate: Chance that a new arithmetic step is wrong.
        revision_gain: Each earlier attempt in a revision prompt multiplies the
            error rate by this (a reviser that learns from its attempts).
        script: Replaces the arithmetic solver: ``script(ScriptInput) -> text``.
        params: Parameter count reported for FLOPs (``None``: unknown).
        empty: Return empty text for every sample (``True``), or for the
            samples where ``empty(request, sample)`` is true.
        fail_after: Calls that succeed before failures start (``None``: never fail).
        fail_times: How many calls fail once failures start (``None``: all).
        error: What a failing call raises (default: ``BackendError``).
        name: The adapter name.
        delimiter: The solver's step delimiter (``"\\n\\n"``: a chat model's).
        explain: The solver writes each arithmetic step as a sentence and the
            equation, on two lines (use with a delimiter other than ``"\\n"``).
        top_logprobs: ``(ScriptInput, text) -> per position {token: logprob}``,
            returned (the most likely ``request.top_logprobs`` of each) when a
            request asks for top logprobs; by default each word of the text is
            a token of log-probability 0. ``False``: never return them (a
            backend without top logprobs).

    Attributes:
        calls: The requests of every call, in order.
        modes: ``"sync"`` or ``"async"`` for every call, in order.
    """

    def __init__(
        self,
        *,
        error_rate: float = 0.3,
        revision_gain: float = 0.5,
        script: Callable[[ScriptInput], str] | None = None,
        params: int | None = None,
        empty: bool | Callable[[GenerationRequest, int], bool] = False,
        fail_after: int | None = None,
        fail_times: int | None = None,
        error: BaseException | None = None,
        name: str = "scripted-generator",
        delimiter: str = "\n",
        explain: bool = False,
        top_logprobs: Callable[[ScriptInput, str], Sequence[Mapping[str, float]]] | bool = True,
    ) -> None:
        self.delimiter = delimiter
        self.explain = explain
        self.top_logprobs = top_logprobs
        self.error_rate = error_rate
        self.revision_gain = revision_gain
        self.script = script
        self.params = params
        self.empty = empty
        self.fail_after = fail_after
        self.fail_times = fail_times
        self.error = error
        self.name = name
        self.calls: list[list[GenerationRequest]] = []
        self.modes: list[str] = []
        self.failures = 0

    @property
    def batch_sizes(self) -> list[int]:
        """Requests per call."""
        return [len(c) for c in self.calls]

    @property
    def sample_counts(self) -> list[int]:
        """Samples (sum of ``n``) per call."""
        return [sum(r.n for r in c) for c in self.calls]

    def _maybe_fail(self) -> None:
        if self.fail_after is None or len(self.calls) <= self.fail_after:
            return
        if self.fail_times is not None and self.failures >= self.fail_times:
            return
        self.failures += 1
        self.calls.pop()
        self.modes.pop()
        raise self.error or BackendError("scripted backend failure", backend=self.name)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Sample ``n`` completions per request (deterministic)."""
        return self._generate(requests, "sync")

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Async twin of ``generate``."""
        await asyncio.sleep(0)
        return self._generate(requests, "async")

    def _generate(self, requests: Sequence[GenerationRequest], mode: str) -> list[list[Completion]]:
        self.calls.append(list(requests))
        self.modes.append(mode)
        self._maybe_fail()
        return [[self._sample(req, j) for j in range(req.n)] for req in requests]

    def _sample(self, req: GenerationRequest, j: int) -> Completion:
        question = question_of(req.prompt)
        attempts = (
            0 if isinstance(req.prompt, str) else sum(m["role"] == "assistant" for m in req.prompt)
        )
        greedy = req.temperature == 0
        rng = random.Random(_digest(req.prompt, req.prefix, None if greedy else (req.seed, j)))
        inp = ScriptInput(req, j, rng, question, attempts)
        if self.empty is True or (callable(self.empty) and self.empty(req, j)):
            text = ""
        elif self.script is not None:
            text = self.script(inp)
        else:
            rate = self.error_rate * self.revision_gain**attempts
            full = solve_noisily(
                question,
                req.prefix,
                rng,
                rate,
                one_step=False,
                delimiter=self.delimiter,
                explain=self.explain,
            )
            # A server stops at the first stop string, whatever the policy's own steps are.
            text, _ = cut_at_stops(full, req.stop)
        finish = "stop"
        if len(text) > req.max_tokens:
            text, finish = text[: req.max_tokens], "length"
        prompt_chars = (
            len(req.prompt)
            if isinstance(req.prompt, str)
            else sum(len(m["content"]) + 1 for m in req.prompt)
        )
        return Completion(
            text=text,
            finish_reason=finish,
            prompt_tokens=1 + prompt_chars + len(req.prefix),
            completion_tokens=len(text) + (finish == "stop" and len(text) < req.max_tokens),
            top_logprobs=self._top_logprobs(inp, text),
        )

    def _top_logprobs(self, inp: ScriptInput, text: str) -> tuple[dict[str, float], ...] | None:
        """Each position's ``k`` most likely tokens, when asked (ties: script order)."""
        k = inp.request.top_logprobs
        if k == 0 or self.top_logprobs is False:
            return None
        if callable(self.top_logprobs):
            positions = list(self.top_logprobs(inp, text))
        else:
            positions = [{tok: 0.0} for tok in word_tokens(text)]
        out = []
        for pos in positions:
            if any(v > 0 for v in pos.values()):  # NaN passes: the judge must catch it
                raise ValueError(f"scripted top_logprobs must be log-probabilities, got {pos}")
            ranked = sorted(pos.items(), key=lambda kv: -kv[1])[:k]
            out.append(dict(ranked))
        return tuple(out)


class ScriptedVerifier:
    """A deterministic ``Verifier`` for tests.

    Args:
        good: Score of a step on the reference path.
        bad: Score of a step off it.
        score_fn: Replaces the reference check: ``score_fn(question, steps) ->
            list[float]`` (one score per step, or one for an outcome verifier).
        nan: Return NaN scores.
        fail_after: Calls that succeed before it raises ``BackendError``.
        params: Parameter count, for verifier FLOPs.
        name: The verifier name.
        step_delimiter: Where it cuts a solution into steps (a step's
            equation is its last line). ``None``: it has no ``step_delimiter``
            attribute (a verifier the graph cannot check) and cuts at ``"\\n"``.

    Attributes:
        calls: ``(question, solutions)`` of every call.
        modes: ``"sync"`` or ``"async"`` for every call, in order.
    """

    def __init__(
        self,
        *,
        good: float = 0.9,
        bad: float = 0.1,
        score_fn: Callable[[str, list[str]], list[float]] | None = None,
        nan: bool = False,
        fail_after: int | None = None,
        params: int | None = None,
        name: str = "scripted-verifier",
        step_delimiter: str | None = "\n",
    ) -> None:
        if step_delimiter is not None:
            self.step_delimiter = step_delimiter
        self._cut = step_delimiter or "\n"
        self.good = good
        self.bad = bad
        self.score_fn = score_fn
        self.nan = nan
        self.fail_after = fail_after
        self.params = params
        self.name = name
        self.calls: list[tuple[str, list[str]]] = []
        self.modes: list[str] = []

    @property
    def batch_sizes(self) -> list[int]:
        """Solutions per call."""
        return [len(s) for _, s in self.calls]

    def reference_scores(self, question: str, steps: list[str]) -> list[float]:
        """``good`` while the steps match the reference solution, ``bad`` from the first miss on."""
        ref = reference_solution(question).splitlines()
        truth = evaluate(question)
        out: list[float] = []
        on_path = True
        for i, whole in enumerate(steps):
            # A step's equation (or answer) is its last line: chat-style steps explain first.
            step = whole.splitlines()[-1].strip() if whole.strip() else ""
            if step.startswith("####"):
                on_path = on_path and step.replace(" ", "") == f"####{truth}"
            else:
                on_path = on_path and i < len(ref) and step == ref[i]
            out.append(self.good if on_path else self.bad)
        return out or [self.bad]

    def score(self, question: str, solutions: Sequence[str]) -> ScoreResult:
        """One score per step of every solution."""
        return self._score(question, solutions, "sync")

    async def ascore(self, question: str, solutions: Sequence[str]) -> ScoreResult:
        """Async twin of ``score``."""
        await asyncio.sleep(0)
        return self._score(question, solutions, "async")

    def _score(self, question: str, solutions: Sequence[str], mode: str) -> ScoreResult:
        self.calls.append((question, list(solutions)))
        self.modes.append(mode)
        if self.fail_after is not None and len(self.calls) > self.fail_after:
            raise BackendError("scripted verifier failure", backend=self.name)
        steps_out: list[list[float]] = []
        for sol in solutions:
            steps = [s.strip() for s in sol.split(self._cut) if s.strip()]
            fn = self.score_fn or self.reference_scores
            scores = [float("nan")] * max(len(steps), 1) if self.nan else fn(question, steps)
            steps_out.append(scores)
        tokens = sum(len(question) + len(s) for s in solutions)
        return ScoreResult(steps=steps_out, tokens=tokens, flops=2.0 * (self.params or 0) * tokens)


def shipped_policy_unfitted() -> ComputePolicy:
    """The shipped policy without its ``fitted_for``: the router runs it on any models.

    The shipped policy names the bundled models it was fitted on; with the
    scripted ones the router would run the generic policy (no probes, no
    difficulty). Tests that exercise the routed path itself pass this one.
    """
    return dataclasses.replace(ComputePolicy.default(), fitted_for=None)
