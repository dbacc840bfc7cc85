"""What the local and remote likelihood verifiers share: prompt, step spans, the token fold.

A likelihood verifier reads a causal LM's probability of every token of a
solution, given the question as the policy saw it, and folds each step's
token probabilities into one step score. The pieces here work on characters
and plain floats, so both backends map tokens to steps the same way:

- :func:`render_prompt` renders the question as the policy sees it;
- :func:`step_spans` gives each step's character span in the solution, cut
  exactly like :func:`~langgraph_ttc.verifiers.base.split_steps`;
- :func:`steps_from_tokens` gives each step the log-probabilities of the
  tokens that overlap its span and folds them with :func:`fold_token_logprobs`.

Nothing here imports torch, transformers or openai.
"""

from __future__ import annotations

import bisect
import math
import string
from collections.abc import Sequence
from typing import Any, Literal, get_args

from langgraph_ttc.types import Fold, fold_scores

__all__ = [
    "DEFAULT_TEMPLATE",
    "TOKEN_FOLDS",
    "TokenFold",
    "check_step_fold",
    "check_template",
    "check_token_fold",
    "fold_steps",
    "fold_token_logprobs",
    "render_prompt",
    "step_spans",
    "steps_from_tokens",
]

TokenFold = Literal["min", "mean", "prod", "last"]
"""How a step's token probabilities become one score (see :func:`fold_token_logprobs`)."""

TOKEN_FOLDS: tuple[str, ...] = get_args(TokenFold)

DEFAULT_TEMPLATE = "{bos}{question}\n"
"""The prompt when the tokenizer has no chat template: BOS text, the question, a line break."""


def check_token_fold(token_fold: object) -> TokenFold:
    """Return ``token_fold`` if it is one of :data:`TOKEN_FOLDS`.

    Raises:
        ValueError: Naming ``token_fold`` and the choices.
    """
    if token_fold not in TOKEN_FOLDS:
        raise ValueError(f"token_fold must be one of {', '.join(TOKEN_FOLDS)}; got {token_fold!r}")
    return token_fold  # type: ignore[return-value]


def check_template(template: object) -> str | None:
    """Return ``template`` if it is ``None`` or a string with ``{question}`` (and maybe ``{bos}``).

    Raises:
        TypeError: If it is neither ``None`` nor a string.
        ValueError: If it lacks ``{question}`` or has another field.
    """
    if template is None:
        return None
    if not isinstance(template, str):
        raise TypeError(f"template must be a str or None, got {type(template).__name__}")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(f"template is not a valid format string: {template!r} ({exc})") from None
    if "question" not in fields or not fields <= {"question", "bos"}:
        raise ValueError(
            f"template must contain {{question}} and no field but {{question}} and {{bos}}, "
            f"got {template!r}"
        )
    return template


def render_prompt(tokenizer: Any, question: str, template: str | None) -> str:
    """The text the solution follows: the question as the policy sees it.

    With ``template=None`` and a tokenizer that has a chat template, the
    question is one user turn rendered with ``add_generation_prompt=True``, the
    text the policy's adapters generate after; the solution (the assistant
    turn) is appended to it verbatim. Otherwise ``template`` (by default
    :data:`DEFAULT_TEMPLATE`) is filled with the question and the tokenizer's
    BOS text (``""`` without a tokenizer).

    Args:
        tokenizer: A Hugging Face tokenizer, or ``None``.
        question: The question.
        template: A format string with ``{question}`` and optionally ``{bos}``, or ``None``.

    Raises:
        TypeError: If the chat template does not render to a string.
    """
    if template is None and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=False
        )
        if not isinstance(text, str):
            raise TypeError(f"apply_chat_template returned {type(text).__name__}, not str")
        return text
    bos = (getattr(tokenizer, "bos_token", None) or "") if tokenizer is not None else ""
    return (template or DEFAULT_TEMPLATE).format(question=question, bos=bos)


def step_spans(solution: str, delimiter: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` character span of each step of ``solution``.

    The steps are those of ``split_steps(solution, delimiter)``: the pieces
    between delimiters that are not blank, as written.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for part in solution.split(delimiter):
        if part.strip():
            spans.append((pos, pos + len(part)))
        pos += len(part) + len(delimiter)
    return spans


def fold_token_logprobs(logprobs: Sequence[float], token_fold: TokenFold) -> float:
    """Fold one step's token log-probabilities into a probability in [0, 1].

    - ``min``: the probability of the least likely token (the default: one
      wrong digit is enough to make a step unlikely);
    - ``mean``: the *geometric* mean of the token probabilities,
      ``exp(mean(logprobs))``, a per-token perplexity that does not punish
      long steps;
    - ``prod``: the probability of the whole step, ``exp(sum(logprobs))``;
    - ``last``: the probability of the step's last token.

    Raises:
        ValueError: On an empty list or an unknown fold.
    """
    if not logprobs:
        raise ValueError("a step has no scored token")
    if token_fold == "min":
        value = min(logprobs)
    elif token_fold == "mean":
        value = math.fsum(logprobs) / len(logprobs)
    elif token_fold == "prod":
        value = math.fsum(logprobs)
    elif token_fold == "last":
        value = logprobs[-1]
    else:
        check_token_fold(token_fold)
    # A log-probability is <= 0; a server's rounding may put it a hair above.
    return min(1.0, math.exp(value)) if not math.isnan(value) else math.nan


def steps_from_tokens(
    token_spans: Sequence[tuple[int, int]],
    logprobs: Sequence[float | None],
    steps: Sequence[tuple[int, int]],
    token_fold: TokenFold,
) -> list[float]:
    """Score each step from the tokens whose character span overlaps it.

    A token that straddles a step boundary (a BPE piece holding the end of
    one step and the line break, say) counts in every step it overlaps;
    tokens of the delimiters alone count in none. Tokens without a
    log-probability (the first token of a sequence) are skipped.

    Args:
        token_spans: ``(start, end)`` of each token, in the same coordinates
            as ``steps``, sorted by position.
        logprobs: Each token's log-probability given what precedes it, or ``None``.
        steps: ``(start, end)`` of each step.
        token_fold: See :func:`fold_token_logprobs`.

    Returns:
        One score per step.

    Raises:
        ValueError: If a step overlaps no token with a log-probability.
    """
    ends = [end for _, end in token_spans]
    scores: list[float] = []
    for k, (start, end) in enumerate(steps):
        picked: list[float] = []
        i = bisect.bisect_right(ends, start)  # the first token ending after the step starts
        while i < len(token_spans) and token_spans[i][0] < end:
            lp = logprobs[i]
            if token_spans[i][1] > token_spans[i][0] and lp is not None:
                picked.append(float(lp))
            i += 1
        if not picked:
            raise ValueError(
                f"step {k} (characters {start}-{end}) has no scored token: the prompt before "
                "the solution is empty, or the tokens do not cover the step"
            )
        scores.append(fold_token_logprobs(picked, token_fold))
    return scores


def check_step_fold(step_fold: object) -> Fold | None:
    """Return ``step_fold`` if it is ``None`` or a step fold (last, min, prod, mean).

    Raises:
        ValueError: Naming ``step_fold`` and the choices.
    """
    if step_fold is not None and step_fold not in ("last", "min", "prod", "mean"):
        raise ValueError(f"step_fold must be last, min, prod, mean or None; got {step_fold!r}")
    return step_fold  # type: ignore[return-value]


def fold_steps(steps: list[list[float]], step_fold: Fold | None) -> list[list[float]]:
    """Each solution's step scores, or with ``step_fold`` one score folded over its steps.

    A likelihood score is only as good as the worst step: folding here (``min``)
    makes a verifier whose solution scores do not depend on the plan's ``fold``.
    """
    if step_fold is None:
        return steps
    return [[fold_scores(s, step_fold)] for s in steps]
