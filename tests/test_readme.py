"""The README's Python example runs as written, on the bundled models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    _answer, status, generations = lines[0].split()
    assert status == "done"
    assert float(generations) <= 16
    assert lines[1].split()[1] in {
        "greedy",
        "majority",
        "best_of_n",
        "beam",
        "lookahead",
        "dvts",
        "revise",
    }
