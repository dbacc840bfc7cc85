"""An LLM judge: any ``Generator`` asked whether a solution (or each step) is correct.

The score is P(yes):

- If the backend returns log-probabilities, only the *chosen* token's is
  available. The first generated token is taken to be the verdict: if the
  reply starts with ``yes`` the score is ``exp(logprob)``, if it starts with
  ``no`` it is ``1 - exp(logprob)``.
- Otherwise the reply is parsed: it starts with ``yes`` -> 1.0, with ``no`` ->
  0.0. A reply that starts with neither scores ``UNPARSEABLE_SCORE`` (0.5:
  the judge said nothing either way), logprobs or not.

Matching ignores case and leading spaces, quotes and markdown (``**Yes**``),
and needs a word boundary after the verdict (``Not`` is not ``No``).
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence

from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.types import Completion, GenerationRequest, Generator, Prompt, ScoreResult
from langgraph_ttc.verifiers.base import EMPTY_SOLUTION_SCORE, BaseVerifier, split_steps

__all__ = ["OUTCOME_PROMPT", "STEP_PROMPT", "UNPARSEABLE_SCORE", "LLMJudge"]

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

UNPARSEABLE_SCORE = 0.5
"""The score of a reply that is neither yes nor no."""

_LEAD = string.whitespace + string.punctuation


class LLMJudge(BaseVerifier):
    """A verifier that asks a generator for a yes/no verdict.

    One ``generate`` call serves the whole batch: one request per solution,
    or, with ``per_step``, one per step prefix (steps are the non-blank lines;
    prefix k holds steps 1..k). Requests are greedy (temperature 0) with a
    fixed seed, so a deterministic backend gives deterministic scores.

    Cost: ``tokens`` counts every token the judge read and wrote; ``flops`` is
    ``2 * generator.params * tokens`` when ``params`` is known, else 0.

    Args:
        generator: Any ``Generator`` adapter.
        prompt_template: The user prompt, with fields ``{question}`` and
            ``{solution}`` (and optionally ``{yes}``, ``{no}``); literal braces
            must be doubled. Default: ``OUTCOME_PROMPT``, or ``STEP_PROMPT``
            when ``per_step``.
        per_step: Score every step prefix instead of the whole solution.
        yes: The verdict meaning correct.
        no: The verdict meaning incorrect.
        name: The verifier's name; by default ``judge:<generator name>``.
        chat: Send the prompt as one user message (``True``) or as raw text.
        max_tokens: Tokens the judge may write (the verdict comes first).
        seed: Seed of every request.
        step_delimiter: Where a solution is cut into steps.

    Raises:
        TypeError: If ``generator`` is not a ``Generator`` or an option has the wrong type.
        ValueError: On a template without ``{question}``/``{solution}``, or bad verdict words.
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
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive int, got {max_tokens!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {type(name).__name__}")
        template = prompt_template
        if template is None:
            template = STEP_PROMPT if per_step else OUTCOME_PROMPT
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
        self.name = name or f"judge:{getattr(generator, 'name', type(generator).__name__)}"

    # ----------------------------------------------------------------- requests

    def _prompt(self, question: str, solution: str) -> Prompt:
        text = self.prompt_template.format(
            question=question, solution=solution, yes=self.yes, no=self.no
        )
        return [{"role": "user", "content": text}] if self.chat else text

    def _plan(
        self, question: str, solutions: list[str]
    ) -> tuple[list[GenerationRequest], list[list[int]]]:
        """The requests, and for each solution the indices of its requests."""
        requests: list[GenerationRequest] = []
        owners: list[list[int]] = []
        for sol in solutions:
            steps = split_steps(sol, self.step_delimiter)
            if not steps:
                owners.append([])
                continue
            texts = (
                ["\n".join(steps[: k + 1]) for k in range(len(steps))]
                if self.per_step
                else [sol.strip()]
            )
            owners.append(list(range(len(requests), len(requests) + len(texts))))
            requests.extend(
                GenerationRequest(
                    prompt=self._prompt(question, text),
                    n=1,
                    max_tokens=self.max_tokens,
                    temperature=0.0,
                    seed=self.seed,
                )
                for text in texts
            )
        return requests, owners

    # ----------------------------------------------------------------- verdicts

    def _verdict(self, text: str) -> float | None:
        reply = text.lstrip(_LEAD).casefold()
        for word, value in ((self.yes, 1.0), (self.no, 0.0)):
            w = word.casefold()
            if reply.startswith(w) and not re.match(r"\w", reply[len(w) : len(w) + 1]):
                return value
        return None

    def p_yes(self, completion: Completion) -> float:
        """The judge's probability that the answer is yes, from one reply (see the module doc)."""
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

    def _collect(
        self,
        requests: Sequence[GenerationRequest],
        owners: list[list[int]],
        replies: list[list[Completion]],
    ) -> ScoreResult:
        if len(replies) != len(requests):
            raise ValueError(
                f"judge {self.name!r}: generator returned {len(replies)} results "
                f"for {len(requests)} requests"
            )
        steps: list[list[float]] = []
        tokens = 0
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
                row.append(self.p_yes(completion))
            steps.append(row)
        params = getattr(self.generator, "params", None)
        flops = 2.0 * params * tokens if isinstance(params, int) and params > 0 else 0.0
        return ScoreResult(steps=steps, tokens=tokens, flops=flops)

    def _score(self, question: str, solutions: list[str]) -> ScoreResult:
        requests, owners = self._plan(question, solutions)
        replies = self.generator.generate(requests) if requests else []
        return self._collect(requests, owners, replies)

    async def _ascore(self, question: str, solutions: list[str]) -> ScoreResult:
        requests, owners = self._plan(question, solutions)
        replies = await self.generator.agenerate(requests) if requests else []
        return self._collect(requests, owners, replies)
