"""Turning completions into candidates, and the prompts the nodes send.

Steps end at the run's step delimiter (``"\\n"`` by default: a step is one
line; ``"\\n\\n"`` for chat models, whose steps are paragraphs). Steps are
kept without the delimiter, without trailing spaces and without blank ones,
and a candidate's ``text`` is always ``delimiter.join(steps)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from langgraph_ttc.formats import REVISE_PROMPT, STEP_DELIMITER
from langgraph_ttc.types import Candidate, ChatMessage, Completion, Prompt

__all__ = [
    "HISTORY",
    "AnswerFn",
    "PromptFn",
    "RevisionPromptFn",
    "extend_path",
    "full_candidate",
    "prefix_of",
    "question_prompt",
    "revision_prompt",
    "split_lines",
]

AnswerFn = Callable[[str], "str | None"]
PromptFn = Callable[[str], Prompt]
RevisionPromptFn = Callable[[str, Sequence[str]], Prompt]

HISTORY = 4
"""Earlier attempts a revision sees: the paper keeps the 4 most recent."""

FAILED_SCORE = 0.0
"""Score of a failed candidate (empty text): nothing to verify is no evidence."""


def question_prompt(question: str) -> list[ChatMessage]:
    """The default prompt: the question as one user turn."""
    return [{"role": "user", "content": question}]


def revision_prompt(question: str, attempts: Sequence[str]) -> list[ChatMessage]:
    """The default revision prompt: earlier attempts as a multi-turn chat.

    ``[user: question, assistant: attempt, user: REVISE_PROMPT, ...]`` over the
    ``HISTORY`` most recent attempts, ending with a user turn asking for a revision.
    """
    messages: list[ChatMessage] = [{"role": "user", "content": question}]
    for attempt in list(attempts)[-HISTORY:]:
        messages.append({"role": "assistant", "content": attempt})
        messages.append({"role": "user", "content": REVISE_PROMPT})
    return messages


_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")


def split_lines(text: str, delimiter: str = STEP_DELIMITER) -> list[str]:
    """Cut text into steps at ``delimiter`` (one a line by default).

    Blank steps are dropped, and each step loses its trailing spaces and any
    blank lines it starts with (a model that writes three line breaks where
    the delimiter is two), so that ``delimiter.join(steps)`` cuts back into
    the same steps.
    """
    steps = (_LEADING_BLANK_LINES.sub("", part.rstrip()) for part in text.split(delimiter))
    return [step for step in steps if step.strip()]


def prefix_of(steps: Sequence[str], delimiter: str = STEP_DELIMITER) -> str:
    """The partial solution a step request continues (empty for the first step).

    It ends with ``delimiter``, so the model starts the next step.
    """
    return delimiter.join(steps) + delimiter if steps else ""


def full_candidate(
    cid: str,
    completion: Completion,
    extract_answer: AnswerFn,
    *,
    source: str,
    group: int | None = None,
    parent: str | None = None,
    delimiter: str = STEP_DELIMITER,
) -> Candidate:
    """A finished candidate from a full-solution completion, cut into steps at ``delimiter``.

    An empty completion is a failed candidate: no answer, score 0, never sent
    to the verifier. Token log-probabilities, where the backend gave them,
    become the candidate's mean ``logprob``.
    """
    steps = split_lines(completion.text, delimiter)
    text = delimiter.join(steps)
    cand = Candidate(
        id=cid,
        text=text,
        steps=steps,
        done=True,
        answer=extract_answer(text) if text else None,
        score=None if text else FAILED_SCORE,
        step_scores=None if text else [],
        source=source,
        active=False,
    )
    if group is not None:
        cand["group"] = group
    if parent is not None:
        cand["parent"] = parent
    if completion.logprobs:
        cand["logprob"] = sum(completion.logprobs) / len(completion.logprobs)
    return cand


def extend_path(
    cid: str,
    parent_steps: Sequence[str],
    completion: Completion,
    extract_answer: AnswerFn,
    *,
    source: str,
    final: bool = False,
    group: int | None = None,
    parent: str | None = None,
    slot: int | None = None,
    round_: int | None = None,
    delimiter: str = STEP_DELIMITER,
) -> Candidate:
    """A partial solution extended by one step (or finished, on the final round).

    ``slot`` and ``round_`` place it in a tree search (see ``engine.tree``);
    ``delimiter`` cuts the new text into steps and joins the path. The path
    is done when the new step holds a final answer, came back empty or was
    cut by length, or when ``final`` (the last round, which ran to the end).
    """
    new = split_lines(completion.text, delimiter)
    steps = [*parent_steps, *new]
    text = delimiter.join(steps)
    done = (
        final
        or not new
        or completion.finish_reason == "length"
        or extract_answer(delimiter.join(new)) is not None
    )
    answer = extract_answer(text) if done and text else None
    failed = not new and answer is None
    cand = Candidate(
        id=cid,
        text=text,
        steps=steps,
        done=done,
        answer=answer,
        score=FAILED_SCORE if failed else None,
        step_scores=[] if failed else None,
        source=source,
        active=not done,
    )
    if group is not None:
        cand["group"] = group
    if parent is not None:
        cand["parent"] = parent
    if slot is not None:
        cand["slot"] = slot
    if round_ is not None:
        cand["round"] = round_
    return cand
