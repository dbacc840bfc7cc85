"""Issue 10, item 7: ``group_answers`` in one pass gives what the pairwise scan gave."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from langgraph_ttc import answers
from langgraph_ttc.answers import answers_equal, canonical, group_answers

VOCABULARY = [
    "7",
    "07",
    "7.0",
    "14/2",
    "1/2",
    "0.5",
    "\\frac{1}{2}",
    "\\dfrac12",
    "2",
    "\\sqrt{4}",
    "1,000",
    "1000",
    "-3",
    "+3",
    "3",
    "\\pi/2",
    "\\frac{\\pi}{2}",
    "x+1",
    "1+x",
    "abc",
    "ABC",
    "",
    "  ",
    "$5$",
    "\\boxed{5}",
    "5.",
    None,
]


def pairwise_groups(pool: Sequence[str | None]) -> dict[str, list[int]]:
    """The former quadratic ``group_answers``: the reference the one-pass version must match."""
    groups: dict[str, list[int]] = {}
    for i, answer in enumerate(pool):
        if answer is None:
            continue
        key = canonical(answer)
        if not key:
            continue
        if key not in groups:
            key = next((rep for rep in groups if answers_equal(rep, key)), key)
        groups.setdefault(key, []).append(i)
    return groups


@pytest.mark.parametrize("symbolic", [True, False])
def test_one_pass_equals_the_pairwise_scan_on_random_pools(
    symbolic: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not symbolic:
        monkeypatch.setattr(answers, "_has_math_verify", lambda: False)
        monkeypatch.setattr(answers, "_math_verify_equal", lambda a, b: False)
    rng = random.Random(10)
    for _ in range(60):
        pool = [rng.choice(VOCABULARY) for _ in range(rng.randint(0, 40))]
        pool += [str(rng.randint(-30, 30)) for _ in range(rng.randint(0, 10))]
        rng.shuffle(pool)
        assert group_answers(pool) == pairwise_groups(pool), pool


def test_distinct_numbers_group_fast() -> None:
    # 256 distinct answers: one group each, and no pairwise comparison.
    pool = [str(k) for k in range(256)] + ["0.5", "1/2", "004"]
    groups = group_answers(pool)
    assert len(groups) == 257 and groups["4"] == [4, 258] and groups["0.5"] == [256, 257]
