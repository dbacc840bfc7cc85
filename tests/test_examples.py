"""The examples and the LangGraph Server entry point, run the way a user runs them."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from langgraph_ttc.chat import ChatTTC
from langgraph_ttc.defaults import bundled_available
from langgraph_ttc.state import TTCContext
from langgraph_ttc.suite.task import check, evaluate
from langgraph_ttc.types import Budget
from tests.fakes import ScriptedGenerator, ScriptedVerifier

REPO = Path(__file__).resolve().parents[1]
Q = "17*3+25-4*6"  # inside the bundled task; = 52
Q2 = "12+7*3"  # = 33


def _load(relative: str) -> ModuleType:
    path = REPO / relative
    spec = importlib.util.spec_from_file_location(path.stem + "_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _script_args(tiny_model_dir: Path) -> list[str]:
    """Bundled models when installed, else the tiny random model; a small budget either way."""
    models = (
        []
        if bundled_available()
        else ["--model", str(tiny_model_dir), "--verifier", str(tiny_model_dir)]
    )
    return [*models, "--budget", "4", "--max-tokens", "64"]


def _run_script(relative: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(REPO / relative), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=REPO,
    )


# --------------------------------------------------------------------------- agent_subgraph.py


def test_agent_routes_math_to_the_ttc_subgraph() -> None:
    example = _load("examples/agent_subgraph.py")
    gen = ScriptedGenerator(error_rate=0.2)
    agent = example.build_agent(gen, verifier=ScriptedVerifier())
    ctx = TTCContext(seed=2, budget=Budget(generations=16))
    out = agent.invoke({"messages": [HumanMessage(f"What is {Q}?")]}, context=ctx)
    reply = out["messages"][-1]
    assert reply.text == f"{Q} = {evaluate(Q)}"
    # Scripted models are not the ones the shipped policy was fitted for: the
    # router runs the generic policy, which draws no probes and bins nothing.
    assert reply.response_metadata["difficulty"] is None
    # Its adaptive sampling stops once a round agrees, within the budget of 16.
    assert 0 < reply.response_metadata["usage"]["generations"] <= 16
    chat = agent.invoke({"messages": [HumanMessage("hello there")]}, context=ctx)
    assert "arithmetic" in chat["messages"][-1].text
    assert len(gen.calls) > 0


def test_agent_for_the_bundled_models_declines_other_expressions() -> None:
    example = _load("examples/agent_subgraph.py")
    gen = ScriptedGenerator(error_rate=0.0)
    agent = example.build_agent(gen, verifier=ScriptedVerifier(), task_only=True)
    ctx = TTCContext(seed=0, budget=Budget(generations=4))
    out = agent.invoke({"messages": [HumanMessage("What is 34*7-95+84*4?")]}, context=ctx)
    text = out["messages"][-1].text
    assert text.startswith("I cannot work that out: the bundled models cannot answer")
    assert "operand 34 is outside 1 to 30" in text and gen.calls == []
    out = agent.invoke({"messages": [HumanMessage(f"What is {Q2} ?")]}, context=ctx)
    assert out["messages"][-1].text == f"{Q2} = {evaluate(Q2)}"


def test_agent_streams_the_subgraph_progress() -> None:
    example = _load("examples/agent_subgraph.py")
    agent = example.build_agent(ScriptedGenerator(), verifier=ScriptedVerifier())
    nodes = [
        part["data"]["node"]
        for part in agent.stream(
            {"messages": [HumanMessage(Q)]},
            context=TTCContext(seed=0),
            stream_mode="custom",
            subgraphs=True,
            version="v2",
        )
    ]
    assert nodes[0] == "route" and nodes[-1] == "select"


def test_agent_script(tiny_model_dir: Path) -> None:
    proc = _run_script("examples/agent_subgraph.py", *_script_args(tiny_model_dir), Q)
    assert proc.returncode == 0, proc.stderr
    assert "strategy" in proc.stdout and "generations" in proc.stdout
    if bundled_available():  # the bundled models get it right; a random tiny model may not
        assert proc.stdout.startswith(f"{Q} = {evaluate(Q)}\n"), proc.stdout
    else:
        assert Q in proc.stdout


def test_agent_script_defaults_to_a_question_it_answers() -> None:
    if not bundled_available():
        pytest.skip("bundled models are not installed")
    proc = _run_script("examples/agent_subgraph.py")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    question, answer = first.split(" = ")
    assert int(answer) == evaluate(question), proc.stdout


# --------------------------------------------------------------------------- lcel_chain.py


def test_chain_returns_worked_solutions() -> None:
    example = _load("examples/lcel_chain.py")
    model = ChatTTC(generator=ScriptedGenerator(error_rate=0.1), verifier=ScriptedVerifier())
    solutions = example.build_chain(model).batch([{"expression": Q}, {"expression": Q2}])
    assert check(solutions[0], Q) and check(solutions[1], Q2)


def test_chain_script(tiny_model_dir: Path) -> None:
    proc = _run_script("examples/lcel_chain.py", *_script_args(tiny_model_dir), Q, Q2)
    assert proc.returncode == 0, proc.stderr
    if bundled_available():  # both right, in the order asked
        lines = [line for line in proc.stdout.splitlines() if " -> " in line]
        assert lines == [f"{Q} -> {evaluate(Q)}", f"{Q2} -> {evaluate(Q2)}"], proc.stdout
    else:
        assert proc.stdout.startswith(f"{Q} -> ")


def test_chain_script_reports_a_refused_question() -> None:
    if not bundled_available():
        pytest.skip("bundled models are not installed")
    proc = _run_script("examples/lcel_chain.py", "--budget", "4", "--max-tokens", "64", "3**4")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("3**4 -> refused: the bundled models cannot answer '3**4'")


# --------------------------------------------------------------------------- graphs/


def test_langgraph_json_points_at_the_graph() -> None:
    config_path = REPO / "graphs" / "langgraph.json"
    config = json.loads(config_path.read_text())
    file, attr = config["graphs"]["ttc"].split(":")
    assert (config_path.parent / file).is_file() and attr == "make_graph"
    assert (config_path.parent / config["dependencies"][0] / "pyproject.toml").is_file()
    cli_config = pytest.importorskip("langgraph_cli.config", reason="langgraph-cli not installed")
    assert cli_config.validate_config_file(config_path)["graphs"] == config["graphs"]


def test_server_graph_is_built_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    module = _load("graphs/ttc.py")
    loads: list[Any] = []

    def fake_bundled(device: str | None = None) -> tuple[Any, Any, Any]:
        loads.append(device)
        return ScriptedGenerator(error_rate=0.0), ScriptedVerifier(), None

    monkeypatch.setattr(module, "load_bundled", fake_bundled)
    assert loads == []  # importing built nothing
    graph = module.make_graph()
    assert module.make_graph() is graph and len(loads) == 1
    assert {"check_question", "route", "beam", "best_of_n", "revise"} <= set(graph.nodes)
    # The server passes the context as plain JSON.
    out = graph.invoke({"question": Q}, context={"seed": 0, "budget": {"generations": 8}})
    assert out["answer"] == str(evaluate(Q))
    assert out["usage"]["generations"] <= 8


def test_server_graph_on_bundled_models() -> None:
    if not bundled_available():
        pytest.skip("bundled models are not installed")
    graph = _load("graphs/ttc.py").make_graph()
    out = graph.invoke({"question": Q2}, context=TTCContext(seed=0, budget=Budget(generations=4)))
    assert out["status"] in ("done", "no_candidates", "budget_exhausted")
    assert out["usage"]["generations"] <= 4
    with pytest.raises(ValueError, match="the bundled models cannot answer '34"):
        graph.invoke({"question": "34*7-95+84*4"})
