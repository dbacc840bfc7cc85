"""The bundled task: generation, splits, solutions, checking, and bad input."""

from __future__ import annotations

import pytest

from langgraph_ttc.suite.task import (
    check,
    evaluate,
    extract_answer,
    generate_problems,
    load_split,
    reference_solution,
    split_of,
)


def test_generation_is_deterministic_and_seeded() -> None:
    a = generate_problems(50, seed=3)
    assert a == generate_problems(50, seed=3)
    assert a != generate_problems(50, seed=4)
    assert {p.ops for p in a} == {1, 2, 3, 4, 5, 6}
    assert all(p.answer == eval(p.question) for p in a)  # Python's precedence is the task's


def test_operand_range_and_op_counts() -> None:
    probs = generate_problems(40, ops=[2, 3], operands=(5, 9), seed=1)
    assert {p.ops for p in probs} == {2, 3}
    for p in probs:
        nums = [
            int(x) for x in p.question.replace("*", " ").replace("+", " ").replace("-", " ").split()
        ]
        assert all(5 <= x <= 9 for x in nums)


def test_splits_are_deterministic_and_disjoint() -> None:
    splits = {s: load_split(s, 300, seed=0) for s in ("train", "validation", "test")}
    assert splits["test"] == load_split("test", 300, seed=0)
    qs = {s: {p.question for p in v} for s, v in splits.items()}
    assert not qs["train"] & qs["validation"]
    assert not qs["train"] & qs["test"]
    assert not qs["validation"] & qs["test"]
    assert all(split_of(p.question) == s for s, v in splits.items() for p in v)
    assert len(qs["test"]) == 300  # distinct by default


def test_reference_solution_format() -> None:
    sol = reference_solution("34*7-95+84*4")
    assert sol == "34*7=238\n84*4=336\n238-95=143\n143+336=479\n#### 479"
    assert reference_solution("5-30") == "5-30=-25\n#### -25"
    assert reference_solution("2*3*4") == "2*3=6\n6*4=24\n#### 24"
    assert evaluate("1-2-3") == -4


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("34*7=238\n84*4=336\n238-95=143\n143+336=479\n#### 479", True),
        ("#### 479", True),
        ("479", True),
        (479, True),
        ("34*7=238\n#### 478", False),
        ("no answer here", False),
        ("", False),
        ("#### ", False),
        ("#### 4x9", False),
        ("#### " + "9" * 5000, False),
    ],
)
def test_check(text: object, ok: bool) -> None:
    assert check(text, "34*7-95+84*4") is ok


def test_extract_answer_on_garbage() -> None:
    assert extract_answer("1+1=2\n#### 2") == "2"
    assert extract_answer("#### -07") == "-7"
    assert extract_answer("") is None
    assert extract_answer("####") is None
    assert extract_answer("#### " + "1" * 1000) is None
    with pytest.raises(TypeError, match="text"):
        extract_answer(None)
    with pytest.raises(TypeError, match="text"):
        extract_answer(42)


def test_check_bad_types_name_the_argument() -> None:
    with pytest.raises(TypeError, match="question"):
        check("#### 1", None)
    with pytest.raises(TypeError, match="text_or_answer"):
        check(None, "1+1")
    with pytest.raises(TypeError, match="text_or_answer"):
        check(["#### 2"], "1+1")
    assert check("#### 2", "not a question") is False


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n": -1}, "n"),
        ({"n": 3, "ops": 0}, "ops"),
        ({"n": 3, "ops": []}, "ops"),
        ({"n": 3, "operands": (9, 1)}, "operands"),
        ({"n": 3, "operands": (-5, 1)}, "operands"),
    ],
)
def test_generate_problems_rejects_impossible_arguments(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        generate_problems(**kwargs)


def test_load_split_errors() -> None:
    with pytest.raises(ValueError, match="split"):
        load_split("dev", 3)
    with pytest.raises(ValueError, match="distinct"):
        load_split("test", 2000, ops=1)
    assert len(load_split("train", 3000, ops=1, distinct=False)) == 3000
