"""An LLM judge: any ``Generator`` asked whether a solution (or each step) is correct.

The score is P(yes), read in one of three ways:

- **Top logprobs** (``top_logprobs=k``, the generative-verifier way): the
  request asks for the k most likely tokens at each position, and the score
  at the verdict position is ``P(yes) / (P(yes) + P(no))``, summing the
  probabilities of every yes-like token (``" Yes"``, ``"yes"``, ``"**Yes"``)
  and every no-like one among the k. The verdict position is the first one
  whose top tokens hold a yes-like or no-like token; positions where the
  judge wrote only formatting (spaces, ``**``, quotes) are skipped. When
  neither word is among the top k there, or the judge wrote something else
  first, the judge gave no verdict: the score is ``UNPARSEABLE_SCORE`` and a
  warning is logged (``on_missing="neutral"``), or it is a ``ValueError``
  (``on_missing="error"``). A generator that returns no top logprobs when
  asked is a ``ValueError`` naming it: P(yes) cannot be read from its replies.
- **The chosen token** (``top_logprobs=0``) when the backend returns
  log-probabilities: the first generated token is taken to be the verdict:
  if the reply starts with ``yes`` the score is ``exp(logprob)``, if it starts
  with ``no`` it is ``1 - exp(logprob)``.
- **The reply text** otherwise: it starts with ``yes`` -> 1.0, with ``no`` ->
  0.0. A reply that starts with neither scores ``UNPARSEABLE_SCORE`` (0.5:
  the judge said nothing either way), logprobs or not.

**Reasoning first** (``reasoning_tokens > 0``, the ThinkPRM recipe): the judge
first writes a critique (greedy, up to ``reasoning_tokens``, after
``reasoning_prefix`` and stopped at the verdict cue), then a second request
continues that critique with ``verdict_cue`` as a prefix, and the verdict is
read from the next token(s), as above. Both calls are batched over the
solutions; their tokens all count. It needs a generator that continues a
prefix (every bundled adapter does; an OpenAI chat endpoint needs
``continue_final_message``).

Matching ignores case and leading spaces, quotes and markdown (``**Yes**``),
and needs a word boundary after the verdict (``Not`` is not ``No``; a token
``Yesterday`` is not ``Yes``). Verdict words should be single tokens of the
judge's tokenizer for top-logprob scoring (``Yes``/``No`` are).
"""

from __future__ import annotations

import logging
import math
import re
import string
from typing import Literal

from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.types import Completion, GenerationRequest, Generator, Prompt, ScoreResult
from langgraph_ttc.verifiers.base import EMPTY_SOLUTION_SCORE, BaseVerifier, split_steps

__all__ = [
    "CRITIQUE_PROMPT",
    "OUTCOME_PROMPT",
    "REASONING_PREFIX",
    "STEP_PROMPT",
    "UNPARSEABLE_SCORE",
    "VERDICT_CUE",
    "LLMJudge",
]

logger = logging.getLogger(__name__)

OUTCOME_PROMPT = (
    "Question: {question}\n"
    "Proposed solution:\n{solution}\n"
    "Is the proposed solution correct? Answer {yes} or {no}."
)
"""Default prompt when each solution gets one score."""

STEP_PROMPT = (
    "Question: {question}\n"
    "Partial solution:\n{solution}\n"
    "Is every step so far correct? Answer {yes} or {no}."
)
"""Default prompt when each step prefix gets a score (``per_step=True``)."""

CRITIQUE_PROMPT = (
    "You are given a math problem and a proposed step-by-step solution:\n\n"
    "[Math Problem]\n\n{question}\n\n"
    "[Solution]\n\n{solution}\n\n"
    "Review and critique each step in the proposed solution to determine whether each "
    "step is correct. If the solution is incomplete, only verify the provided steps."
)
"""Default prompt with a reasoning phase: ThinkPRM's verification instruction."""

REASONING_PREFIX = "Let's verify step by step:"
"""Where the judge's critique starts (ThinkPRM's)."""

VERDICT_CUE = "\nIs the solution correct?"
"""Appended after the critique; the verdict is the next token (ThinkPRM's, answered `` Yes``)."""

UNPARSEABLE_SCORE = 0.5
"""The score of a reply that is neither yes nor no."""

_LEAD = string.whitespace + string.punctuation
_MAX_TOP_LOGPROBS = 20  # what OpenAI-compatible servers accept


class LLMJudge(BaseVerifier):
    """A verifier that asks a generator for a yes/no verdict.

    One ``generate`` call serves the whole batch (two with a reasoning phase):
    one request per solution, or, with ``per_step``, one per step prefix
    (prefix k holds steps 1..k, joined by ``step_delimiter``). Requests are
    greedy (temperature 0) with a fixed seed, so a deterministic backend gives
    deterministic scores. How the verdict becomes P(yes) is in the module doc.

    Cost: ``tokens`` counts every token the judge read and wrote (both calls
    with reasoning); ``flops`` is ``2 * generator.params * tokens`` when
    ``params`` is known, else 0.

    Args:
        generator: Any ``Generator`` adapter.
        prompt_template: The user prompt, with fields ``{question}`` and
            ``{solution}`` (and optionally ``{yes}``, ``{no}``); literal braces
            must be doubled. Default: ``CRITIQUE_PROMPT`` with a reasoning
            phase, else ``STEP_PROMPT`` when ``per_step``, else ``OUTCOME_PROMPT``.
        per_step: Score every step prefix instead of the whole solution.
        yes: The verdict meaning correct.
        no: The verdict meaning incorrect.
        name: The verifier's name; by default ``judge:<generator name>``.
        chat: Send the prompt as one user message (``True``) or as raw text.
        max_tokens: Tokens the judge may write for its verdict (it comes first).
        seed: Seed of every request.
        step_delimiter: Where a solution is cut into steps (a graph using this
            judge must use the same).
        top_logprobs: Score by P(yes) over the ``top_logprobs`` most likely
            tokens at the verdict position (1 to 20; 20 catches the most
            probability mass); 0 reads the reply instead.
        reasoning_tokens: Let the judge write a critique of up to this many
            tokens before the verdict (0: no critique).
        reasoning_prefix: Starts the judge's critique (a prefix of its reply).
        verdict_cue: Follows the critique; the verdict is read right after it.
        on_missing: With ``top_logprobs``, what a reply without a verdict
            scores: ``"neutral"`` (``UNPARSEABLE_SCORE``, logged) or ``"error"``.

    Raises:
        TypeError: If ``generator`` is not a ``Generator`` or an option has the wrong type.
        ValueError: On a template without ``{question}``/``{solution}``, bad
            verdict words, or an option out of range.
    """

    def __init__(
        self,
        generator: Generator,
        *,
        prompt_template: str | None = None,
        per_step: bool = False,
        yes: str = "Yes",
        no: str = "No",
        name: str | None = None,
        chat: bool = True,
        max_tokens: int = 8,
        seed: int = 0,
        step_delimiter: str = STEP_DELIMITER,
        top_logprobs: int = 0,
        reasoning_tokens: int = 0,
        reasoning_prefix: str = REASONING_PREFIX,
        verdict_cue: str = VERDICT_CUE,
        on_missing: Literal["neutral", "error"] = "neutral",
    ) -> None:
        if not isinstance(generator, Generator):
            raise TypeError(
                f"generator must implement the Generator protocol, got {type(generator).__name__}"
            )
        for field, word in (("yes", yes), ("no", no)):
            if not isinstance(word, str) or not word.strip(_LEAD):
                raise ValueError(f"{field} must be a non-empty word, got {word!r}")
        if yes.strip().casefold() == no.strip().casefold():
            raise ValueError(f"yes and no must differ, both are {yes!r}")
        for field, value, low in (
            ("max_tokens", max_tokens, 1),
            ("top_logprobs", top_logprobs, 0),
            ("reasoning_tokens", reasoning_tokens, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{field} must be an int >= {low}, got {value!r}")
        if top_logprobs > _MAX_TOP_LOGPROBS:
            raise ValueError(
                f"top_logprobs must be at most {_MAX_TOP_LOGPROBS}, got {top_logprobs!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {type(name).__name__}")
        if not isinstance(step_delimiter, str) or not step_delimiter:
            raise ValueError(f"step_delimiter must be a non-empty str, got {step_delimiter!r}")
        for field, text in (("reasoning_prefix", reasoning_prefix), ("verdict_cue", verdict_cue)):
            if not isinstance(text, str):
                raise TypeError(f"{field} must be a str, got {type(text).__name__}")
        if reasoning_tokens and not verdict_cue.strip():
            raise ValueError("verdict_cue must be non-blank when reasoning_tokens > 0")
        if on_missing not in ("neutral", "error"):
            raise ValueError(f"on_missing must be 'neutral' or 'error', got {on_missing!r}")
        template = prompt_template
        if template is None:
            template = (
                CRITIQUE_PROMPT if reasoning_tokens else STEP_PROMPT if per_step else OUTCOME_PROMPT
            )
        if not isinstance(template, str):
            raise TypeError(f"prompt_template must be a str, got {type(template).__name__}")
        if "{question}" not in template or "{solution}" not in template:
            raise ValueError(
                f"prompt_template must contain {{question}} and {{solution}}, got {template!r}"
            )
        try:
            template.format(question="", solution="", yes=yes, no=no)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"prompt_template has a field other than question, solution, yes, no "
                f"(double literal braces): {exc}"
            ) from None
        self.generator = generator
        self.prompt_template = template
        self.per_step = bool(per_step)
        self.yes = yes.strip()
        self.no = no.strip()
        self.chat = bool(chat)
        self.max_tokens = max_tokens
        self.seed = seed
        self.step_delimiter = step_delimiter
        self.top_logprobs = top_logprobs
        self.reasoning_tokens = reasoning_tokens
        self.reasoning_prefix = reasoning_prefix
        self.verdict_cue = verdict_cue
        self.on_missing = on_missing
        self.name = name or f"judge:{getattr(generator, 'name', type(generator).__name__)}"

    # ----------------------------------------------------------------- requests

    def _prompt(self, question: str, solution: str) -> Prompt:
        text = self.prompt_template.format(
            question=question, solution=solution, yes=self.yes, no=self.no
        )
        return [{"role": "user", "content": text}] if self.chat else text

    def _prompts(self, question: str, solutions: list[str]) -> tuple[list[Prompt], list[list[int]]]:
        """One prompt per request, and for each solution the indices of its requests."""
        prompts: list[Prompt] = []
        owners: list[list[int]] = []
        for sol in solutions:
            steps = split_steps(sol, self.step_delimiter)
            if not steps:
                owners.append([])
                continue
            texts = (
                [self.step_delimiter.join(steps[: k + 1]) for k in range(len(steps))]
                if self.per_step
                else [sol.strip()]
            )
            owners.append(list(range(len(prompts), len(prompts) + len(texts))))
            prompts.extend(self._prompt(question, text) for text in texts)
        return prompts, owners

    def _critique_requests(self, prompts: list[Prompt]) -> list[GenerationRequest]:
        # The judge stops where it would give its verdict: the cue is ours to write.
        return [
            GenerationRequest(
                prompt=p,
                prefix=self.reasoning_prefix,
                n=1,
                max_tokens=self.reasoning_tokens,
                temperature=0.0,
                stop=(self.verdict_cue.strip(),),
                seed=self.seed,
            )
            for p in prompts
        ]

    def _verdict_requests(
        self, prompts: list[Prompt], critiques: list[list[Completion]]
    ) -> list[GenerationRequest]:
        prefixes = [""] * len(prompts)
        if self.reasoning_tokens:
            if len(critiques) != len(prompts) or not all(critiques):
                raise ValueError(
                    f"judge {self.name!r}: generator returned "
                    f"{sum(1 for per in critiques if per)} critiques for {len(prompts)} requests"
                )
            prefixes = [self._after_critique(per[0].text) for per in critiques]
        return [
            GenerationRequest(
                prompt=p,
                prefix=prefix,
                n=1,
                max_tokens=self.max_tokens,
                temperature=0.0,
                seed=self.seed,
                logprobs=self.top_logprobs > 0,
                top_logprobs=self.top_logprobs,
            )
            for p, prefix in zip(prompts, prefixes, strict=True)
        ]

    def _after_critique(self, critique: str) -> str:
        """The verdict request's prefix: the critique (cut at the cue, as servers do), the cue."""
        cut = critique.find(self.verdict_cue.strip())
        critique = critique[:cut] if cut >= 0 else critique
        return self.reasoning_prefix + critique.rstrip() + self.verdict_cue

    # ----------------------------------------------------------------- verdicts

    def _verdict(self, text: str) -> float | None:
        reply = text.lstrip(_LEAD).casefold()
        for word, value in ((self.yes, 1.0), (self.no, 0.0)):
            w = word.casefold()
            if reply.startswith(w) and not re.match(r"\w", reply[len(w) : len(w) + 1]):
                return value
        return None

    def p_yes(self, completion: Completion) -> float:
        """The judge's probability that the answer is yes, from one reply (see the module doc).

        With ``top_logprobs``, this is :meth:`p_yes_top`, and a reply without a
        verdict scores ``UNPARSEABLE_SCORE``.
        """
        if self.top_logprobs:
            p = self.p_yes_top(completion)
            return UNPARSEABLE_SCORE if p is None else p
        verdict = self._verdict(completion.text)
        if verdict is None:
            return UNPARSEABLE_SCORE
        if completion.logprobs:
            logprob = float(completion.logprobs[0])
            if math.isnan(logprob):
                return math.nan  # the result check raises, naming this judge
            p = min(1.0, math.exp(logprob))
            return p if verdict == 1.0 else 1.0 - p
        return verdict

    def p_yes_top(self, completion: Completion) -> float | None:
        """P(yes) / (P(yes) + P(no)) at the verdict position, from the reply's top logprobs.

        Returns ``None`` when the reply holds no verdict (see the module doc).

        Raises:
            ValueError: If the completion carries no top logprobs.
        """
        if completion.top_logprobs is None:
            raise ValueError(
                f"judge {self.name!r}: generator "
                f"{getattr(self.generator, 'name', type(self.generator).__name__)!r} returned "
                "no top_logprobs, so P(yes) cannot be read from its replies; use a backend "
                "that returns them (OpenAIGenerator, TransformersGenerator) or top_logprobs=0 "
                "to read the reply's text"
            )
        yes, no = self.yes.casefold(), self.no.casefold()
        for position in completion.top_logprobs[: self.max_tokens]:
            mass = {yes: 0.0, no: 0.0}
            for token, logprob in position.items():
                word = token.strip(_LEAD).casefold()
                if word in mass:
                    if math.isnan(logprob):
                        return math.nan  # the result check raises, naming this judge
                    mass[word] += math.exp(logprob)
            if mass[yes] + mass[no] > 0.0:
                return mass[yes] / (mass[yes] + mass[no])
            chosen = max(position, key=position.__getitem__) if position else ""
            if chosen.strip(_LEAD):
                return None  # the judge wrote something other than a verdict first
        return None

    def _collect(
        self,
        owners: list[list[int]],
        critiques: list[list[Completion]],
        replies: list[list[Completion]],
    ) -> ScoreResult:
        expected = sum(len(o) for o in owners)
        if len(replies) != expected:
            raise ValueError(
                f"judge {self.name!r}: generator returned {len(replies)} results "
                f"for {expected} requests"
            )
        steps: list[list[float]] = []
        tokens = sum(c.prompt_tokens + c.completion_tokens for per in critiques for c in per)
        for i, indices in enumerate(owners):
            if not indices:
                steps.append([EMPTY_SOLUTION_SCORE])
                continue
            row: list[float] = []
            for j in indices:
                if not replies[j]:
                    raise ValueError(
                        f"judge {self.name!r}: generator returned no completion for solution {i}"
                    )
                completion = replies[j][0]
                tokens += completion.prompt_tokens + completion.completion_tokens
                row.append(self._score_reply(completion, i))
            steps.append(row)
        params = getattr(self.generator, "params", None)
        flops = 2.0 * params * tokens if isinstance(params, int) and params > 0 else 0.0
        return ScoreResult(steps=steps, tokens=tokens, flops=flops)

    def _score_reply(self, completion: Completion, solution: int) -> float:
        if not self.top_logprobs:
            return self.p_yes(completion)
        p = self.p_yes_top(completion)
        if p is not None:
            return p
        why = (
            f"judge {self.name!r}: no {self.yes!r} or {self.no!r} among the top "
            f"{self.top_logprobs} tokens at the verdict position for solution {solution} "
            f"(reply {completion.text[:40]!r})"
        )
        if self.on_missing == "error":
            raise ValueError(why)
        logger.warning("%s; scored %s", why, UNPARSEABLE_SCORE)
        return UNPARSEABLE_SCORE

    def _score(self, question: str, solutions: list[str]) -> ScoreResult:
        prompts, owners = self._prompts(question, solutions)
        critiques: list[list[Completion]] = []
        if prompts and self.reasoning_tokens:
            critiques = self.generator.generate(self._critique_requests(prompts))
        replies = (
            self.generator.generate(self._verdict_requests(prompts, critiques)) if prompts else []
        )
        return self._collect(owners, critiques, replies)

    async def _ascore(self, question: str, solutions: list[str]) -> ScoreResult:
        prompts, owners = self._prompts(question, solutions)
        critiques: list[list[Completion]] = []
        if prompts and self.reasoning_tokens:
            critiques = await self.generator.agenerate(self._critique_requests(prompts))
        replies = (
            await self.generator.agenerate(self._verdict_requests(prompts, critiques))
            if prompts
            else []
        )
        return self._collect(owners, critiques, replies)
