"""The likelihood verifier on the bundled policy-large: what it prefers, and batch invariance.

Skipped when the bundled models are not installed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import torch

from langgraph_ttc.suite import task
from langgraph_ttc.suite.modeling import bundled_model_path
from langgraph_ttc.verifiers import TransformersLikelihoodVerifier


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- policy-large


def _off_by_one(question: str) -> tuple[str, str]:
    """The reference solution and a copy whose first result is one too high.

    The copy stays consistent after the slip: later steps use the wrong value
    and compute correctly from it (the task's order: products first, then
    left to right), so the only flaw is the one result.
    """
    toks = re.findall(r"\d+|[+\-*]", question)
    nums, ops = [int(t) for t in toks[0::2]], toks[1::2]
    lines: list[str] = []

    def step(a: int, op: str, b: int) -> int:
        r = a * b if op == "*" else a + b if op == "+" else a - b
        r += 0 if lines else 1  # the slip, on the first step only
        lines.append(f"{a}{op}{b}={r}")
        return r

    terms, signs = [nums[0]], []
    for op, b in zip(ops, nums[1:], strict=True):
        if op == "*":
            terms[-1] = step(terms[-1], "*", b)
        else:
            signs.append(op)
            terms.append(b)
    acc = terms[0]
    for op, b in zip(signs, terms[1:], strict=True):
        acc = step(acc, op, b)
    return task.reference_solution(question), "\n".join([*lines, f"#### {acc}"])


@pytest.fixture(scope="module")
def large() -> TransformersLikelihoodVerifier:
    try:
        path = bundled_model_path("policy-large")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    return TransformersLikelihoodVerifier(path, dtype="float32").load()


@pytest.mark.parametrize("question", ["3*4+5", "7*3+12-5", "12*4-17+3*9"])
def test_policy_large_prefers_the_correct_solution(
    large: TransformersLikelihoodVerifier, question: str
) -> None:
    right, wrong = _off_by_one(question)
    assert wrong != right and not task.check(wrong, question)
    res = large.score(question, [right, wrong]).steps
    assert min(res[0]) > 0.5  # every step of the reference is likely (0.83 to 0.997 measured)
    assert min(res[1]) < 0.01  # the slipped result is not
    assert res[1].index(min(res[1])) == 0  # and the lowest step is the slip


def test_a_solutions_scores_do_not_depend_on_its_batch_mates(
    large: TransformersLikelihoodVerifier,
) -> None:
    # Padded to its own length, not its batch's: bit-for-bit the scores it gets
    # alone, so a near-tie in a beam search cannot flip with what shares a pass.
    question = "12*4-17+3*9"
    short = ["12*4=48", "3*9=27\n48-17=31", "12*4=48\n3*9=27\n48-17=31\n31+27=58\n#### 58"]
    long = [task.reference_solution(q) for q in ("29*28-27*26+25*24-23*22", "30*29+28*27-26")]
    alone = [large.score(question, [s]).steps[0] for s in short]
    shared = large.score(question, [*long, *short]).steps[len(long) :]
    assert shared == alone
