"""Replies that are well-formed but suspicious reach the run's ``warnings``."""

from __future__ import annotations

import json

from langgraph_ttc.state import TTCContext, merge_warnings
from langgraph_ttc.strategies import create_best_of_n_graph
from langgraph_ttc.types import StrategyConfig
from tests.fakes import ScriptedGenerator

QUESTION = "34*7-95+84*4"
SAME = "34*7=238\n84*4=336\n238-95=143\n143+336=479\n#### 479"


def _run(gen: ScriptedGenerator) -> dict:
    graph = create_best_of_n_graph(gen, config=StrategyConfig("majority", n=4)).compile()
    return graph.invoke({"question": QUESTION}, context=TTCContext(seed=3))


def test_identical_samples_at_temperature_are_a_warning_in_the_final_state() -> None:
    # A backend repeating one seed: every sample is the same long text.
    final = _run(ScriptedGenerator(script=lambda inp: SAME))
    assert final["answer"] == "479"
    assert len(final["warnings"]) == 1
    assert "identical samples" in final["warnings"][0]
    assert "repeated seed" in final["warnings"][0]


def test_independent_samples_leave_no_warning() -> None:
    final = _run(ScriptedGenerator(error_rate=0.5))
    assert final.get("warnings", []) == []


def test_the_reducer_keeps_each_warning_once_in_order() -> None:
    assert merge_warnings(["a", "b"], ["b", "c"]) == ["a", "b", "c"]
    assert merge_warnings(None, ["a"]) == ["a"]


def test_ttc_prints_the_warnings() -> None:
    from langgraph_ttc.cli import render_result

    final = _run(ScriptedGenerator(script=lambda inp: SAME))
    assert "warning: " in render_result(final)
    assert json.loads(render_result(final, as_json=True))["warnings"] == final["warnings"]


def test_warnings_from_a_routed_strategy_reach_the_routed_graphs_state() -> None:
    from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
    from langgraph_ttc.types import Budget

    graph = create_ttc_graph(ScriptedGenerator(script=lambda inp: SAME)).compile()
    final = graph.invoke(
        {"question": QUESTION}, context=TTCContext(seed=3, budget=Budget(generations=16))
    )
    assert final["warnings"] and all("identical samples" in w for w in final["warnings"])
