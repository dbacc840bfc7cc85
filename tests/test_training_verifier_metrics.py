"""The verifier metrics on a hand-made pool, where every number is known."""

from __future__ import annotations

from langgraph_ttc.suite.task import reference_solution
from langgraph_ttc.training.verifier_metrics import measure_verifier


def test_measure_verifier_on_a_hand_made_pool() -> None:
    q1, q2 = "2+3", "4*5-6"
    right1, right2 = reference_solution(q1), reference_solution(q2)
    wrong1 = "2+3=6\n#### 6"
    wrong2 = "4*5=21\n21-6=15\n#### 15"
    # q1: two wrong votes outvote one right one, but the verifier trusts the right one.
    pool = [[wrong1, wrong1, right1], [right2, wrong2]]
    steps = [
        [[0.9, 0.1], [0.8, 0.2], [0.9, 0.95]],  # min: 0.1, 0.2, 0.9 -> ranks right first
        [[0.3, 0.9, 0.9], [0.6, 0.7]],  # last: 0.9 vs 0.7; min: 0.3 vs 0.6 -> wrong first
    ]
    out = measure_verifier([q1, q2], [1, 2], pool, steps, fold="min")
    assert out["auroc"]["min"]["within_question"] == 0.5  # 1.0 on q1, 0.0 on q2
    assert out["auroc"]["min"]["mixed_questions"] == 2
    assert out["auroc"]["last"]["within_question"] == 1.0
    assert out["per_ops"]["1"]["weighted@16"] == 1.0  # 0.9 for 5 beats 0.1 + 0.2 for 6
    assert out["per_ops"]["1"]["majority@16"] == 0.0
    assert out["per_ops"]["2"]["weighted@16"] == 0.0  # min ranks the wrong one higher
    assert out["overall"]["weighted@16"] == 0.5
    assert "beam@16" not in out["overall"]
