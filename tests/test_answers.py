"""Answer extraction, canonical form, equivalence and aggregation."""

from __future__ import annotations

import importlib.util
import math
import sys
from typing import Any

import pytest

from langgraph_ttc import answers
from langgraph_ttc.answers import (
    aggregate,
    answers_equal,
    canonical,
    extract_answer,
    group_answers,
    numeric_value,
)
from langgraph_ttc.suite import task

HAS_MATH_VERIFY = importlib.util.find_spec("math_verify") is not None


def cand(cid: str, answer: str | None, score: float | None, done: bool = True) -> dict[str, Any]:
    return {
        "id": cid,
        "text": "",
        "steps": [],
        "done": done,
        "answer": answer,
        "score": score,
        "step_scores": None,
    }


# --------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("34*7=238\n84*4=336\n#### 479", "479"),
        ("#### 5\nsecond try\n#### 6", "6"),
        ("####   -12 ", "-12"),
        ("#### 007", "7"),
        ("#### 1,000", "1000"),
        ("#### 2.50", "2.5"),
        ("#### $3.0$.", "3"),
        ("so the total is \\boxed{42}.", "42"),
        ("\\boxed{1} then \\boxed{\\frac{4}{6}}", "2/3"),
        ("\\boxed{\\left( 3, 4 \\right)}", "(3,4)"),
        ("\\boxed{\\dfrac{\\pi}{2}}", "\\frac{\\pi}{2}"),
        ("The answer is 17.", "17"),
        ("I think the final answer is: $-\\frac{1}{2}$. Done.", "-1/2"),
        ("The answer is 3.5. The end", "3.5"),
        ("no answer here", None),
        ("", None),
        ("####\n", None),
    ],
)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


def test_extract_order_hash_beats_boxed_beats_phrase() -> None:
    assert extract_answer("the answer is 1\n\\boxed{2}\n#### 3") == "3"
    assert extract_answer("\\boxed{2}\nthe answer is 1") == "2"


def test_extract_falls_through_empty_sources() -> None:
    assert extract_answer("####\n\\boxed{9}") == "9"
    assert extract_answer("\\boxed{}\nThe answer is 4") == "4"


def test_boxed_braces_balanced() -> None:
    assert extract_answer("\\boxed{\\frac{a}{b}+{c}}") == "\\frac{a}{b}+{c}"
    # An unclosed box is no answer.
    assert extract_answer("\\boxed{\\frac{1}{2}") is None


def test_agrees_with_suite_extractor_on_reference_solutions() -> None:
    for p in task.generate_problems(30, seed=1):
        sol = task.reference_solution(p.question)
        assert extract_answer(sol) == task.extract_answer(sol) == str(p.answer)


def test_extract_rejects_non_str() -> None:
    with pytest.raises(TypeError, match="text"):
        extract_answer(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- canonical


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" 42 ", "42"),
        ("+3", "3"),
        ("-0", "0"),
        ("$12$", "12"),
        ("12.", "12"),
        ("\\$5", "5"),
        ("0.50", "0.5"),
        (".5", "0.5"),
        ("-2.000", "-2"),
        ("12,345,678", "12345678"),
        ("4/6", "2/3"),
        ("8/4", "2"),
        ("3/-9", "-1/3"),
        ("1/0", "1/0"),
        ("\\frac{3}{6}", "1/2"),
        ("\\tfrac12", "1/2"),
        ("\\boxed{7}", "7"),
        ("x = 5", "x=5"),
        ("\\pi r^2", "\\pi r^2"),
        ("", ""),
    ],
)
def test_canonical(raw: str, expected: str) -> None:
    assert canonical(raw) == expected


def test_canonical_is_idempotent() -> None:
    for raw in ("0.50", "4/6", "\\frac{\\pi}{2}", "1,000", "\\pi r^2", "-\\frac{1}{2}"):
        assert canonical(canonical(raw)) == canonical(raw)


def test_numeric_value() -> None:
    from fractions import Fraction

    assert numeric_value("0.25") == Fraction(1, 4)
    assert numeric_value("\\frac{3}{4}") == Fraction(3, 4)
    assert numeric_value("-7") == -7
    assert numeric_value("1/0") is None
    assert numeric_value("\\pi") is None


def test_canonical_rejects_non_str() -> None:
    with pytest.raises(TypeError, match="answer"):
        canonical(5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- equality


def test_answers_equal_numeric() -> None:
    assert answers_equal("479", "0479")
    assert answers_equal("0.5", "1/2")
    assert answers_equal("\\frac{1}{2}", "0.50")
    assert answers_equal("1,000", "1000.0")
    assert not answers_equal("479", "478")
    assert not answers_equal("0.33", "1/3")
    assert not answers_equal("", "0")


def test_answers_equal_type_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match=r"\bb\b"):
        answers_equal("1", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\ba\b"):
        answers_equal(1, "1")  # type: ignore[arg-type]


def test_answers_equal_without_math_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulate the optional dependency being absent.
    monkeypatch.setitem(sys.modules, "math_verify", None)
    answers._math_verify_equal.cache_clear()
    try:
        assert not answers_equal("\\frac{\\pi}{2}", "\\pi/2")
        assert answers_equal("\\dfrac{\\pi}{2}", "\\frac{\\pi}{2}")  # canonically equal
    finally:
        answers._math_verify_equal.cache_clear()


@pytest.mark.skipif(not HAS_MATH_VERIFY, reason="math-verify not installed")
def test_answers_equal_with_math_verify() -> None:
    assert answers_equal("\\frac{\\pi}{2}", "\\pi/2")
    assert answers_equal("x+1", "1+x")
    assert answers_equal("\\sqrt{4}", "2")
    assert not answers_equal("\\sqrt{2}", "2")


# --------------------------------------------------------------------------- grouping


def test_group_answers() -> None:
    groups = group_answers(["2", None, "2.0", "3", "", "4/2", "03"])
    assert groups == {"2": [0, 2, 5], "3": [3, 6]}


def test_group_answers_type_errors() -> None:
    with pytest.raises(TypeError, match="answers"):
        group_answers("123")
    with pytest.raises(TypeError, match=r"answers\[1\]"):
        group_answers(["1", 2])  # type: ignore[list-item]


# --------------------------------------------------------------------------- aggregation


def test_weighted_beats_majority_when_scores_disagree() -> None:
    cands = [
        cand("a", "5", 0.1),
        cand("b", "5", 0.1),
        cand("c", "5", 0.1),
        cand("d", "7", 0.9),
    ]
    answer, conf, totals = aggregate(cands, selection="weighted")
    assert answer == "7"
    assert conf == pytest.approx(0.9 / 1.2)
    assert totals == pytest.approx({"5": 0.3, "7": 0.9})
    answer, conf, totals = aggregate(cands, selection="majority")
    assert (answer, conf, totals) == ("5", 0.75, {"5": 3.0, "7": 1.0})


def test_weighted_groups_equivalent_answers() -> None:
    cands = [cand("a", "0.5", 0.4), cand("b", "2", 0.6), cand("c", "1/2", 0.4)]
    answer, conf, totals = aggregate(cands)
    assert answer == "0.5"
    assert totals == pytest.approx({"0.5": 0.8, "2": 0.6})
    assert conf == pytest.approx(0.8 / 1.4)


def test_max_selection() -> None:
    cands = [cand("a", "1", 0.5), cand("b", "2", 0.7), cand("c", "1", 0.6)]
    assert aggregate(cands, selection="max") == ("2", 0.7, {"1": 0.6, "2": 0.7})


def test_max_ties_go_to_first_candidate() -> None:
    # Answer "1" is seen first, but candidate b is the first with the top score.
    cands = [cand("a", "1", 0.2), cand("b", "2", 0.9), cand("c", "1", 0.9)]
    assert aggregate(cands, selection="max")[0] == "2"


def test_ties_go_to_first_seen() -> None:
    cands = [cand("a", "3", 0.5), cand("b", "4", 0.5)]
    assert aggregate(cands)[0] == "3"
    assert aggregate(list(reversed(cands)))[0] == "4"
    assert aggregate(cands, selection="majority")[0] == "3"


def test_none_answer_never_wins() -> None:
    cands = [cand("a", None, 1.0), cand("b", "8", 0.01)]
    for selection in ("weighted", "majority", "max"):
        answer, _, totals = aggregate(cands, selection=selection)
        assert answer == "8"
        assert list(totals) == ["8"]


def test_unscored_done_candidate_counts_zero() -> None:
    cands = [cand("a", "1", None), cand("b", "1", None), cand("c", "2", 0.3)]
    answer, conf, totals = aggregate(cands)
    assert answer == "2"
    assert totals == {"1": 0.0, "2": 0.3}
    assert conf == 1.0


def test_zero_mass_gives_first_seen_with_zero_confidence() -> None:
    answer, conf, _ = aggregate([cand("a", "1", 0.0), cand("b", "2", 0.0)])
    assert (answer, conf) == ("1", 0.0)


def test_no_answers() -> None:
    assert aggregate([]) == (None, 0.0, {})
    assert aggregate([cand("a", None, 0.9)]) == (None, 0.0, {})


def test_nan_score_names_candidate() -> None:
    with pytest.raises(ValueError, match="bad-one"):
        aggregate([cand("ok", "1", 0.5), cand("bad-one", "2", math.nan)])
    # Even an answerless candidate with NaN is a fault, not something to ignore.
    with pytest.raises(ValueError, match="x9"):
        aggregate([cand("x9", None, math.nan)], selection="majority")


def test_negative_weight_rejected_for_weighted_only() -> None:
    cands = [cand("neg", "1", -0.5), cand("b", "2", 0.1)]
    with pytest.raises(ValueError, match="neg"):
        aggregate(cands)
    assert aggregate(cands, selection="max")[0] == "2"


def test_aggregate_bad_input() -> None:
    with pytest.raises(ValueError, match="selection"):
        aggregate([cand("a", "1", 0.5)], selection="best")
    with pytest.raises(TypeError, match="candidates"):
        aggregate("abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"candidates\[0\]"):
        aggregate([("a", "1")])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="answer"):
        aggregate([cand("a", 12, 0.5)])  # type: ignore[arg-type]


def test_weighted_on_suite_solutions_picks_the_right_answer() -> None:
    """Noisy solutions of a real suite question, scored by the suite checker's truth."""
    (problem,) = task.generate_problems(1, ops=3, seed=4)
    right = task.reference_solution(problem.question)
    wrong = right.rsplit("#### ", 1)[0] + f"#### {problem.answer + 1}"
    sols = [wrong, wrong, wrong, right]
    cands = [
        cand(str(i), extract_answer(s), 0.9 if task.check(s, problem.question) else 0.2)
        for i, s in enumerate(sols)
    ]
    assert aggregate(cands, selection="majority")[0] == str(problem.answer + 1)
    assert aggregate(cands, selection="weighted")[0] == str(problem.answer)
