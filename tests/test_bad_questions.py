"""The bundled default refuses what it cannot answer: CLI, API, server graph and ChatTTC.

The bundled models answer one grammar (``+ - *``, 1 to 6 operations, operands
1 to 30, spaces ignored). Where a run falls back to them (``ttc solve`` with
no model option, ``ChatTTC()`` with no generator or graph, ``graphs/ttc.py``)
any other question is refused with one line that names the problem, what
the bundled models answer and how to bring your own model; no model is
loaded and nothing is answered. With the user's own model any question goes.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from langgraph_ttc import cli
from langgraph_ttc.chat import ChatTTC
from langgraph_ttc.defaults import bundled_available
from langgraph_ttc.suite.task import check_question_in_task
from tests.fakes import ScriptedGenerator, ScriptInput

REPO = Path(__file__).resolve().parents[1]

# The seven, each with the part of the message that names its problem.
BAD = {
    "2+": "it ends with an operator",
    "+2": "it starts with an operator",
    "3**4": "it has operators in a row ('**')",
    "1/0": "it contains '/'",
    "hello": "it contains 'h'",
    "１+２": "it contains '１' (U+FF11)",
    "1+1; rm -rf /": "it contains ';'",
}
WHAT = "they answer only integer expressions of + - * with 1 to 6 operations and operands 1 to 30"
needs_bundled = pytest.mark.skipif(not bundled_available(), reason="bundled models not installed")


def _one_line_refusal(message: str, question: str) -> None:
    assert "\n" not in message.strip() and "Traceback" not in message
    assert f"cannot answer {question!r}: {BAD[question]}" in message
    assert WHAT in message and "bring your own model" in message


# --------------------------------------------------------------------------- the grammar


@pytest.mark.parametrize("question", list(BAD))
def test_check_names_the_problem(question: str) -> None:
    with pytest.raises(ValueError) as info:
        check_question_in_task(question)
    _one_line_refusal(str(info.value), question)
    assert "ChatTTC(generator=...)" in str(info.value)  # the default hint names every way in


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("", "it is empty"),
        ("  ", "it is empty"),
        ("5", "it has 0 operations"),
        ("1+2+3+4+5+6+7+8", "it has 7 operations"),
        ("31+1", "operand 31 is outside 1 to 30"),
        ("0*4", "operand 0 is outside 1 to 30"),
        ("01+2", "operand '01' has a leading zero"),
        ("-3+2", "it starts with an operator"),
        ("(1+2)*3", "it contains '('"),
        ("1+2\n+3", "it contains '\\n'"),
        ("1+2=3", "it contains '='"),
        ("1\u00a0+2", "U+00A0"),
    ],
)
def test_more_out_of_task_questions(question: str, reason: str) -> None:
    with pytest.raises(ValueError, match="cannot answer") as info:
        check_question_in_task(question, hint="HINT")
    assert reason in str(info.value) and str(info.value).endswith("; HINT")


@pytest.mark.parametrize(
    ("question", "canonical"),
    [
        ("12+7*3", "12+7*3"),
        (" 12 + 7 * 3\n", "12+7*3"),
        ("1\t-\t30", "1-30"),
        ("30*30*30*30*30*30*30", "30*30*30*30*30*30*30"),
    ],
)
def test_in_task_questions_come_back_without_blanks(question: str, canonical: str) -> None:
    assert check_question_in_task(question) == canonical


def test_a_long_question_is_shortened_in_the_message() -> None:
    with pytest.raises(ValueError) as info:
        check_question_in_task("1+" * 200 + "x")
    assert "1+" * 31 not in str(info.value) and "...': it contains 'x'" in str(info.value)


def test_not_a_string() -> None:
    with pytest.raises(TypeError, match="question must be a str"):
        check_question_in_task(12)


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def no_model_loads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail the test if the CLI gets as far as building models; records what it built."""
    built: list[Any] = []

    def build(args: Any) -> Any:
        built.append(args)
        raise AssertionError("a refused question must not load a model")

    monkeypatch.setattr(cli, "_build_models", build)
    return built


@pytest.mark.parametrize("question", list(BAD))
def test_cli_refuses(
    question: str, no_model_loads: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["solve", question]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("ttc: error: the bundled models cannot answer")
    assert err.count("\n") == 1
    _one_line_refusal(err, question)
    assert "--model PATH_OR_ID" in err and "--endpoint URL --endpoint-model NAME" in err
    assert no_model_loads == []


def test_cli_subprocess_refuses_without_a_traceback() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "TTC_DEBUG": ""}
    for question in BAD:
        proc = subprocess.run(
            [sys.executable, "-m", "langgraph_ttc.cli", "solve", question, "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=REPO,
        )
        assert proc.returncode == 2, (question, proc.stderr)
        assert proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("ttc: error: ")
        _one_line_refusal(proc.stderr, question)


def _answering(text: str = "I answer anything.\n#### 7") -> ScriptedGenerator:
    return ScriptedGenerator(script=lambda _s: text)


@pytest.mark.parametrize("options", [["--model", "my-org/my-model"], ["--endpoint", "http://x/v1"]])
def test_cli_with_your_own_model_takes_any_question(
    options: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gen = _answering()
    monkeypatch.setattr(cli, "_build_models", lambda args: (gen, None, None))
    if "--endpoint" in options:
        options = [*options, "--endpoint-model", "m"]
    assert cli.main(["solve", "hello", *options, "--budget", "4", "--json"]) == 0
    assert '"answer": "7"' in capsys.readouterr().out
    assert gen.calls[0][0].prompt[0]["content"] == "hello"  # type: ignore[index]


def test_cli_bundled_run_gets_the_question_without_spaces(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gen = ScriptedGenerator(error_rate=0.0)
    monkeypatch.setattr(cli, "_build_models", lambda args: (gen, None, None))
    assert cli.main(["solve", " 12 + 7*3 ", "--budget", "4"]) == 0
    assert "answer: 33" in capsys.readouterr().out
    assert gen.calls[0][0].prompt[0]["content"] == "12+7*3"  # type: ignore[index]


@needs_bundled
def test_cli_on_the_bundled_models_still_answers(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    torch.set_num_threads(1)
    assert cli.main(["solve", "12+7", "--budget", "4", "--max-tokens", "32"]) == 0
    assert "answer: 19" in capsys.readouterr().out


# --------------------------------------------------------------------------- ChatTTC


@pytest.mark.parametrize("question", list(BAD))
async def test_chat_refuses_on_every_path(question: str) -> None:
    model = ChatTTC()
    with pytest.raises(ValueError) as info:
        model.invoke(question)
    _one_line_refusal(str(info.value), question)
    assert "ChatTTC(generator=..., verifier=...)" in str(info.value)
    with pytest.raises(ValueError, match="cannot answer"):
        await model.ainvoke(question)
    with pytest.raises(ValueError, match="cannot answer"):
        list(model.stream(question))
    with pytest.raises(ValueError, match="cannot answer"):
        list(model.stream_events(question, version="v3"))
    assert model._compiled is None  # nothing was built, no model loaded


def test_chat_with_your_own_model_takes_any_question() -> None:
    def script(s: ScriptInput) -> str:
        return f"You said {s.question}.\n#### 0"

    msg = ChatTTC(generator=ScriptedGenerator(script=script), budget=2).invoke("hello")
    assert msg.text == "You said hello.\n#### 0"


@needs_bundled
def test_chat_on_the_bundled_models_still_answers() -> None:
    import torch

    torch.set_num_threads(1)
    msg = ChatTTC(budget=4, max_tokens=32, output="answer").invoke(" 12 + 7 ")
    assert msg.text == "19"


# --------------------------------------------------------------------------- server graph


def _server_module() -> ModuleType:
    path = REPO / "graphs" / "ttc.py"
    spec = importlib.util.spec_from_file_location("ttc_server_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def server_graph(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = _server_module()
    gen = ScriptedGenerator(error_rate=0.0)
    monkeypatch.setattr(module, "load_bundled", lambda device=None: (gen, None, None))
    return module.make_graph(), gen


@pytest.mark.parametrize("question", list(BAD))
def test_server_graph_refuses(question: str, server_graph: Any) -> None:
    graph, gen = server_graph
    with pytest.raises(ValueError) as info:
        graph.invoke({"question": question})
    _one_line_refusal(str(info.value), question)
    assert "langgraph.json" in str(info.value)
    assert gen.calls == []


def test_server_graph_answers_in_task_questions(server_graph: Any) -> None:
    graph, gen = server_graph
    assert next(iter(graph.get_graph().edges)).source == "__start__"
    out = graph.invoke({"question": " 12 + 7*3"}, context={"budget": {"generations": 4}})
    assert out["answer"] == "33" and out["status"] == "done"
    assert gen.calls[0][0].prompt[0]["content"] == "12+7*3"
