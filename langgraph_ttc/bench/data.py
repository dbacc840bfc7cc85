"""Benchmark questions: the bundled suite's splits, or a user's JSONL file.

A question is a :class:`BenchItem`: an id that is stable across runs (the
cache is keyed by it), the question text, the reference answer and a group
label for reports (the suite's operation count).

A user's file holds one JSON object a line::

    {"question": "What is 12*7?", "answer": "84"}
    {"id": "q2", "question": "...", "answer": 3.5}

``question`` must be a non-empty string; ``answer`` a string or a number;
``id`` (optional) a string or an integer, unique in the file. Blank lines are
skipped. Anything else is a ``ValueError`` naming the file and the line.

Correctness is decided by a *checker*, ``checker(answer, reference) -> bool``,
where ``answer`` is the selected final answer in canonical form (see
``langgraph_ttc.answers``) and ``reference`` the item's reference as a string.
The default, :func:`default_checker`, is ``answers.answers_equal``. A run
with no answer is never correct; the checker is not asked.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from langgraph_ttc.answers import answers_equal

__all__ = [
    "BenchItem",
    "Checker",
    "default_checker",
    "is_correct",
    "load_checker",
    "load_jsonl",
    "question_id",
    "suite_items",
]

Checker = Callable[[str, str], bool]
"""``checker(answer, reference) -> bool``: is a canonical final answer right?"""


@dataclass(frozen=True)
class BenchItem:
    """One benchmark question.

    Attributes:
        qid: Stable id: the user's ``id``, else a hash of the question text.
        question: The question as the model sees it.
        reference: The reference answer, as a string.
        group: A label for reports (``ops=3`` for the suite; ``""`` otherwise).
    """

    qid: str
    question: str
    reference: str
    group: str = ""


def question_id(question: str) -> str:
    """A stable id for a question: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(question.encode()).hexdigest()[:12]


def suite_items(split: str, n: int, *, seed: int = 0) -> list[BenchItem]:
    """``n`` questions of one split of the bundled task, spread over operation counts.

    Raises:
        ValueError: For an unknown split or an impossible ``n`` (see ``load_split``).
    """
    from langgraph_ttc.suite.task import load_split

    return [
        BenchItem(question_id(p.question), p.question, str(p.answer), f"ops={p.ops}")
        for p in load_split(split, n, seed=seed)
    ]


def load_jsonl(path: str | Path) -> list[BenchItem]:
    """Read a user's questions and reference answers.

    Args:
        path: A JSONL file (see the module docstring for the fields).

    Returns:
        The items, in file order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: For a malformed line (the message names the file and the
            line number), a duplicate id, or a file with no question.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--data: no file at {str(p)!r}")
    items: list[BenchItem] = []
    seen: dict[str, int] = {}
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{p}: line {lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{where}: not valid JSON ({exc.msg} at column {exc.colno})"
                ) from None
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
            question = record.get("question")
            if "question" not in record:
                raise ValueError(f"{where}: missing the field 'question'")
            if not isinstance(question, str) or not question.strip():
                raise ValueError(f"{where}: 'question' must be a non-empty string")
            if "answer" not in record:
                raise ValueError(f"{where}: missing the field 'answer'")
            answer = record["answer"]
            if isinstance(answer, bool) or not isinstance(answer, str | int | float):
                raise ValueError(
                    f"{where}: 'answer' must be a string or a number, got {type(answer).__name__}"
                )
            if isinstance(answer, str) and not answer.strip():
                raise ValueError(f"{where}: 'answer' is empty")
            raw_id = record.get("id")
            if raw_id is None:
                qid = question_id(question)
            elif isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or not str(raw_id):
                raise ValueError(f"{where}: 'id' must be a non-empty string or an integer")
            else:
                qid = str(raw_id)
            if qid in seen:
                raise ValueError(
                    f"{where}: duplicate id {qid!r} (first on line {seen[qid]}); "
                    "ids (or, without ids, questions) must be unique"
                )
            seen[qid] = lineno
            items.append(BenchItem(qid, question, str(answer)))
    if not items:
        raise ValueError(f"{p}: holds no question")
    return items


def default_checker(answer: str, reference: str) -> bool:
    """The default checker: ``answers.answers_equal`` (numbers by value, text canonically)."""
    return answers_equal(answer, reference)


def load_checker(spec: str) -> Checker:
    """Import a checker named ``module:function``.

    Raises:
        ValueError: If ``spec`` is not ``module:function``, the module cannot
            be imported, or it has no such attribute.
        TypeError: If the attribute is not callable.
    """
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ValueError(f"--checker must be 'module:function', got {spec!r}")
    module_name, attr = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--checker: cannot import module {module_name!r}: {exc}") from exc
    fn = getattr(module, attr, None)
    if fn is None:
        raise ValueError(f"--checker: module {module_name!r} has no attribute {attr!r}")
    if not callable(fn):
        raise TypeError(f"--checker: {spec} is not callable")
    return fn  # type: ignore[no-any-return]


def is_correct(checker: Checker, answer: str | None, reference: str) -> bool:
    """Whether ``answer`` is right: ``False`` without an answer, else the checker's verdict.

    Raises:
        TypeError: If the checker returns something other than a bool.
    """
    if answer is None:
        return False
    verdict = checker(answer, reference)
    # numpy's bool_ is not a bool; accept it (and 0/1) but nothing vaguer.
    if isinstance(verdict, bool) or type(verdict).__name__ == "bool_" or verdict in (0, 1):
        return bool(verdict)
    raise TypeError(f"the checker must return a bool, got {type(verdict).__name__}")
