"""Final answers: extraction, canonical form, equivalence and aggregation.

Task-agnostic. A solution's final answer is read from, in order of preference:

1. the last ``#### X`` line (GSM8K style, and the bundled suite's format);
2. the last ``\\boxed{X}`` (MATH style, braces balanced);
3. the last "the answer is X" (case-insensitive, to the end of its line).

Answers are compared in canonical form (see :func:`canonical`): numbers by
value (``"07"``, ``"7.0"`` and ``"14/2"`` are all ``7``; ``"0.5"`` equals
``"1/2"``), anything else as normalised text, and, when the optional
``math-verify`` package is importable, as LaTeX expressions
(``"\\frac{\\pi}{2}"`` equals ``"\\pi/2"``).

:func:`aggregate` implements the paper's selection rules: weighted best-of-N
(sum of verifier scores per distinct answer), majority vote (the same sum with
every score 1) and the single highest score.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from langgraph_ttc.types import Candidate

__all__ = [
    "aggregate",
    "answers_equal",
    "canonical",
    "extract_answer",
    "group_answers",
    "numeric_value",
]

SelectionRule = Literal["weighted", "majority", "max"]

_HASH_LINE_RE = re.compile(r"^[ \t]*####[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_IS_RE = re.compile(r"the\s+(?:final\s+)?answer\s+is\s*:?[ \t]*([^\n]+)", re.IGNORECASE)
_INT_RE = re.compile(r"[+-]?\d+")
_THOUSANDS_RE = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DECIMAL_RE = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+)")
_FRACTION_RE = re.compile(r"([+-]?\d+)/([+-]?\d+)")
_LATEX_FRAC_RE = re.compile(r"([+-]?)\\[dt]?frac\{([+-]?\d+)\}\{([+-]?\d+)\}")
_LATEX_FRAC_SHORT_RE = re.compile(r"([+-]?)\\[dt]?frac(\d)(\d)")
_COMMAND_END_RE = re.compile(r"\\[A-Za-z]+$")
# LaTeX spacing and sizing that never changes a value.
_LATEX_NOISE_RE = re.compile(r"\\(?:left|right|displaystyle)(?![A-Za-z])|\\[!,;: ]")
# Leave math-verify's signal-based timeout on only where signals work.
_MATH_VERIFY_TIMEOUT_S = 5


def _require_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def _boxed_contents(text: str) -> list[str]:
    """Contents of every ``\\boxed{...}`` in ``text``, braces balanced; unclosed ones skipped."""
    out: list[str] = []
    for m in _BOXED_RE.finditer(text):
        depth = 1
        i = m.end()
        while i < len(text) and depth:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            i += 1
        if depth == 0:
            out.append(text[m.end() : i - 1])
    return out


def extract_answer(text: str) -> str | None:
    """The final answer of a solution, in canonical form.

    Tries the last ``#### X`` line, then the last ``\\boxed{X}``, then the last
    "the answer is X". A source that is present but empty (``####`` alone,
    ``\\boxed{}``) falls through to the next one.

    Args:
        text: A solution.

    Returns:
        The canonical answer (see :func:`canonical`), or ``None`` if there is none.

    Raises:
        TypeError: If ``text`` is not a string.
    """
    _require_str(text, "text")
    hash_lines = _HASH_LINE_RE.findall(text)
    if hash_lines and (answer := canonical(hash_lines[-1])):
        return answer
    boxed = _boxed_contents(text)
    if boxed and (answer := canonical(boxed[-1])):
        return answer
    stated = _ANSWER_IS_RE.findall(text)
    if stated and (answer := canonical(_first_sentence(stated[-1]))):
        return answer
    return None


def _first_sentence(text: str) -> str:
    """The answer part of "the answer is ...": a leading ``$...$`` span, else up to ". "."""
    text = text.strip()
    m = re.match(r"\$[^$]+\$", text)
    if m:
        return m.group(0)
    return re.split(r"\.\s", text, maxsplit=1)[0]


def _strip_spaces(text: str) -> str:
    # Spaces go, except where one ends a LaTeX command before a letter ("\pi r").
    pieces = text.split()
    out = pieces[0] if pieces else ""
    for piece in pieces[1:]:
        sep = " " if _COMMAND_END_RE.search(out) and piece[0].isalpha() else ""
        out += sep + piece
    return out


def _format_fraction(value: Fraction) -> str:
    return (
        str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    )


def _canonical_number(text: str) -> str | None:
    if _THOUSANDS_RE.fullmatch(text):
        text = text.replace(",", "")
    if _INT_RE.fullmatch(text):
        return str(int(text))
    if _DECIMAL_RE.fullmatch(text):
        value = Decimal(text)
        if value == value.to_integral_value():
            return str(int(value))
        # Fixed-point, no trailing zeros, no exponent.
        return format(value.normalize(), "f")
    m = _FRACTION_RE.fullmatch(text)
    if m and int(m.group(2)) != 0:
        return _format_fraction(Fraction(int(m.group(1)), int(m.group(2))))
    return None


def canonical(answer: str) -> str:
    """The canonical form of an answer, for comparison and grouping.

    Rules, in order: unwrap one enclosing ``\\boxed{...}`` and ``$...$``; drop
    spaces (one is kept after a LaTeX command followed by a letter), LaTeX
    spacing commands and ``\\left``/``\\right``, and trailing periods; turn
    ``\\dfrac``/``\\tfrac`` into ``\\frac``. Numbers then get one spelling:
    integers as ``int`` (``"007"`` -> ``"7"``, ``"1,000"`` -> ``"1000"``,
    ``"+3"`` -> ``"3"``), decimals without trailing zeros (``"2.50"`` ->
    ``"2.5"``, ``"3.0"`` -> ``"3"``), and integer fractions ``a/b`` or
    ``\\frac{a}{b}`` in lowest terms as ``a/b`` (``"4/6"`` -> ``"2/3"``,
    ``"8/4"`` -> ``"2"``). Anything else is kept as the normalised text.

    Args:
        answer: A raw answer.

    Returns:
        The canonical string (``""`` for a blank answer).

    Raises:
        TypeError: If ``answer`` is not a string.
    """
    _require_str(answer, "answer")
    text = answer.strip()
    boxed = _boxed_contents(text)
    if len(boxed) == 1 and text.startswith(("\\boxed", "\\fbox")) and text.endswith("}"):
        text = boxed[0].strip()
    text = text.rstrip(". \t\n").replace("\\$", "").replace("$", "")
    text = _LATEX_NOISE_RE.sub(" ", text)
    text = _strip_spaces(text).rstrip(".")
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    m = _LATEX_FRAC_RE.fullmatch(text) or _LATEX_FRAC_SHORT_RE.fullmatch(text)
    if m and int(m.group(3)) != 0:
        value = Fraction(int(m.group(2)), int(m.group(3)))
        return _format_fraction(-value if m.group(1) == "-" else value)
    number = _canonical_number(text)
    return number if number is not None else text


def numeric_value(answer: str) -> Fraction | None:
    """The exact value of a numeric answer (integer, decimal or fraction), else ``None``.

    Raises:
        TypeError: If ``answer`` is not a string.
    """
    text = canonical(answer)
    m = _FRACTION_RE.fullmatch(text)
    if m and int(m.group(2)) != 0:
        return Fraction(int(m.group(1)), int(m.group(2)))
    if _INT_RE.fullmatch(text) or _DECIMAL_RE.fullmatch(text):
        return Fraction(Decimal(text))
    return None


def _math_verify_timeout() -> int | None:
    # math-verify times out with signal.alarm, which only the main thread may use.
    main = threading.current_thread() is threading.main_thread()
    return _MATH_VERIFY_TIMEOUT_S if main else None


@functools.lru_cache(maxsize=4096)
def _math_verify_parse(text: str, timeout: int | None) -> tuple[Any, ...] | None:
    """math-verify's reading of ``$text$`` (parsed once per answer), or ``None``."""
    from math_verify import parse

    try:
        parsed = parse(f"${text}$", parsing_timeout=timeout)
    except Exception:
        return None
    return tuple(parsed) if parsed else None


@functools.lru_cache(maxsize=4096)
def _math_verify_equal(a: str, b: str) -> bool:
    try:
        from math_verify import verify
    except ImportError:
        return False
    timeout = _math_verify_timeout()
    gold = _math_verify_parse(a, timeout)
    pred = _math_verify_parse(b, timeout)
    if gold is None or pred is None:
        return False
    try:
        return bool(verify(list(gold), list(pred), timeout_seconds=timeout))
    except Exception:
        # An answer math-verify cannot read is simply not shown equal.
        return False


def answers_equal(a: str, b: str) -> bool:
    """Whether two answers are the same.

    Equal canonical forms are equal; two numbers are compared by exact value
    (``"0.5"`` equals ``"1/2"``); otherwise, if ``math-verify`` is installed,
    it decides whether the two LaTeX expressions are equivalent. Without it,
    non-numeric answers must match canonically.

    Raises:
        TypeError: If ``a`` or ``b`` is not a string.
    """
    ca = canonical(_require_str(a, "a"))
    cb = canonical(_require_str(b, "b"))
    if ca == cb:
        return True
    if not ca or not cb:
        return False
    va, vb = numeric_value(ca), numeric_value(cb)
    if va is not None and vb is not None:
        return va == vb
    return _math_verify_equal(ca, cb)


def group_answers(answers: Sequence[str | None]) -> dict[str, list[int]]:
    """Group equal answers, in one pass by canonical form.

    Each answer joins the first earlier group whose representative it equals
    (:func:`answers_equal`); otherwise it opens a group named by its canonical
    form. ``None`` and blank answers are left out.

    Equal canonical forms and equal numbers are found by hashing (the
    canonical form, the exact value), so a pool of numeric or plainly equal
    answers groups in linear time. Only where ``math-verify`` is installed
    and a new canonical form is not a number already seen are earlier
    representatives asked whether they are the same LaTeX expression, in
    first-seen order, exactly as :func:`answers_equal` would.

    Args:
        answers: Raw or canonical answers, ``None`` where a solution has none.

    Returns:
        Canonical representative -> indices into ``answers``, in first-seen order.

    Raises:
        TypeError: If ``answers`` is not a sequence, or an item is neither a
            string nor ``None``.
    """
    if isinstance(answers, str) or not isinstance(answers, Sequence):
        raise TypeError(f"answers must be a sequence, got {type(answers).__name__}")
    index = _GroupIndex(symbolic=_has_math_verify())
    for i, answer in enumerate(answers):
        if answer is None:
            continue
        key = canonical(_require_str(answer, f"answers[{i}]"))
        if key:
            index.add(key, i)
    return index.groups


class _GroupIndex:
    """The groups so far, indexed so that a new answer finds its group without a scan.

    ``answers_equal(rep, key)`` holds when the canonical forms of the two are
    equal, when both are numbers of equal value, or (neither blank, not both
    numbers) when math-verify says so; the first representative for which
    it holds wins, as in a scan in first-seen order.
    """

    def __init__(self, *, symbolic: bool) -> None:
        self.groups: dict[str, list[int]] = {}
        self.symbolic = symbolic
        self.rep_of: dict[str, str] = {}  # a canonical form -> its group's representative
        self.order: dict[str, int] = {}  # representative -> its place in first-seen order
        self.by_form: dict[str, str] = {}  # canonical(rep) -> the first such rep
        self.by_value: dict[Fraction, str] = {}  # exact value -> the first numeric rep
        self.texts: list[str] = []  # representatives neither blank nor numbers, in order

    def add(self, key: str, index: int) -> None:
        rep = self.rep_of.get(key)
        if rep is None:
            rep = key if key in self.groups else self._first_equal(key)
            self.rep_of[key] = rep
        if rep not in self.groups:
            self._open(rep)
        self.groups[rep].append(index)

    def _open(self, rep: str) -> None:
        form = _canonical_cached(rep)
        value = _number(form)
        self.groups[rep] = []
        self.order[rep] = len(self.order)
        self.by_form.setdefault(form, rep)
        if value is not None:
            self.by_value.setdefault(value, rep)
        elif form:
            self.texts.append(rep)

    def _first_equal(self, key: str) -> str:
        form = _canonical_cached(key)
        value = _number(form)
        hits = [self.by_form.get(form), self.by_value.get(value) if value is not None else None]
        first = min((h for h in hits if h is not None), key=self.order.__getitem__, default=None)
        if not self.symbolic or not form:
            return first or key
        # Two numbers compare by value only: a number asks math-verify about texts alone.
        pool = self.texts if value is not None else list(self.groups)
        limit = len(self.order) if first is None else self.order[first]
        for rep in pool:
            if self.order[rep] >= limit:
                break
            rep_form = _canonical_cached(rep)
            if not rep_form or (value is not None and _number(rep_form) is not None):
                continue
            if _math_verify_equal(rep_form, form):
                return rep
        return first or key


@functools.lru_cache(maxsize=1)
def _has_math_verify() -> bool:
    import importlib.util

    return importlib.util.find_spec("math_verify") is not None


@functools.lru_cache(maxsize=65536)
def _canonical_cached(text: str) -> str:
    return canonical(text)


@functools.lru_cache(maxsize=65536)
def _number(form: str) -> Fraction | None:
    return numeric_value(form)


def _candidate_score(candidate: Mapping[str, Any], index: int, selection: str) -> float:
    score = candidate.get("score")
    if score is None:
        return 0.0
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise TypeError(
            f"candidates[{index}] (id {candidate.get('id')!r}): score must be a number or "
            f"None, got {type(score).__name__}"
        )
    if not math.isfinite(score):
        raise ValueError(f"candidate {candidate.get('id')!r} has a non-finite score: {score!r}")
    if score < 0 and selection == "weighted":
        raise ValueError(
            f"candidate {candidate.get('id')!r} has a negative score ({score!r}); weighted "
            "selection sums scores as probability mass"
        )
    return float(score)


def aggregate(
    candidates: Sequence[Candidate] | Sequence[Mapping[str, Any]],
    *,
    selection: SelectionRule | str = "weighted",
) -> tuple[str | None, float, dict[str, float]]:
    """Select a final answer from candidates.

    Only a candidate's ``answer`` and ``score`` (and ``id``, for errors) are
    read; the caller chooses which candidates to pass (for example only the
    finished ones). Answers are grouped with :func:`group_answers`.

    - ``weighted``: each answer's total is the sum of its candidates' scores
      (``None`` counts 0); the confidence is the winner's share of all mass,
      or 0.0 when every score is 0.
    - ``majority``: the same with every score 1.
    - ``max``: the answer of the single highest-scoring candidate (``None``
      counts 0); the confidence is that score; each answer's total is its best
      score.

    Ties go to the answer seen first. A candidate whose answer is ``None``
    never wins (and adds no mass), but its score is still validated.

    Args:
        candidates: ``Candidate`` dicts (or any mappings with ``answer`` and ``score``).
        selection: ``"weighted"``, ``"majority"`` or ``"max"``.

    Returns:
        ``(answer, confidence, totals)``: the winning canonical answer (``None``
        when no candidate has one), its confidence, and the total per answer.

    Raises:
        ValueError: For an unknown ``selection``, or a NaN/infinite score
            (naming the candidate id), or a negative score under ``weighted``.
        TypeError: If ``candidates`` is not a sequence of mappings, or an
            answer is not a string or ``None``.
    """
    if selection not in ("weighted", "majority", "max"):
        raise ValueError(f"selection must be weighted, majority or max; got {selection!r}")
    if isinstance(candidates, str | bytes) or not isinstance(candidates, Sequence):
        raise TypeError(f"candidates must be a sequence, got {type(candidates).__name__}")
    scores: list[float] = []
    answers: list[str | None] = []
    for i, cand in enumerate(candidates):
        if not isinstance(cand, Mapping):
            raise TypeError(f"candidates[{i}] must be a mapping, got {type(cand).__name__}")
        scores.append(_candidate_score(cand, i, selection))
        answer = cand.get("answer")
        if answer is not None and not isinstance(answer, str):
            raise TypeError(
                f"candidates[{i}] (id {cand.get('id')!r}): answer must be a str or None, "
                f"got {type(answer).__name__}"
            )
        answers.append(answer)
    groups = group_answers(answers)
    if not groups:
        return None, 0.0, {}
    totals: dict[str, float] = {}
    group_of: dict[int, str] = {}
    for answer, members in groups.items():
        group_of.update(dict.fromkeys(members, answer))
        if selection == "weighted":
            totals[answer] = float(sum(scores[i] for i in members))
        elif selection == "majority":
            totals[answer] = float(len(members))
        else:
            totals[answer] = max(scores[i] for i in members)
    if selection == "max":
        # The first candidate with the top score wins, not the first answer group.
        best = max(sorted(group_of), key=lambda i: scores[i])
        return group_of[best], scores[best], totals
    # Dicts keep first-seen order, and max() keeps the first of equal keys.
    winner = max(totals, key=lambda a: totals[a])
    mass = sum(totals.values())
    return winner, (totals[winner] / mass if mass > 0 else 0.0), totals
