"""The README's Python example runs as written, on the bundled models, and prints right answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from langgraph_ttc.suite.task import check_question_in_task, evaluate

README = Path(__file__).resolve().parents[1] / "README.md"
STRATEGIES = {"greedy", "majority", "best_of_n", "beam", "lookahead", "dvts", "revise"}


def test_readme_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    questions = re.findall(r'\{"question": "([^"]+)"\}', code)
    assert len(questions) == 2
    for question in questions:  # the bundled models' task, nothing else
        assert check_question_in_task(question) == question
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    answer, status, generations = lines[0].split()
    assert int(answer) == evaluate(questions[0])
    assert status == "done"
    assert float(generations) <= 16
    answer, strategy, _difficulty = lines[1].split()
    assert int(answer) == evaluate(questions[1])
    assert strategy in STRATEGIES


def test_readme_comments_show_what_the_example_prints() -> None:
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    questions = re.findall(r'\{"question": "([^"]+)"\}', code)
    shown = [int(c.split()[0]) for c in re.findall(r"\)  # (.+)", code)]
    assert shown == [evaluate(q) for q in questions]


def test_readme_cli_lines_are_right() -> None:
    text = README.read_text()
    for question, answer in re.findall(r'`ttc solve "([^"]+)"` answers (\d+)', text):
        assert evaluate(question) == int(answer)
    assert '`ttc solve "hello"` exits 2' in text
