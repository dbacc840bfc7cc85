"""A user's JSONL questions and checker: clear errors that name the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langgraph_ttc.bench.data import (
    default_checker,
    is_correct,
    load_checker,
    load_jsonl,
    question_id,
    suite_items,
)
from langgraph_ttc.cli import main


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_load_jsonl_reads_questions_answers_and_ids(tmp_path: Path) -> None:
    path = write(
        tmp_path / "q.jsonl",
        [
            json.dumps({"question": "2+2", "answer": "4"}),
            "",
            json.dumps({"id": 7, "question": "3*3", "answer": 9}),
        ],
    )
    items = load_jsonl(path)
    assert [(i.qid, i.question, i.reference) for i in items] == [
        (question_id("2+2"), "2+2", "4"),
        ("7", "3*3", "9"),
    ]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"question": "1+1", "answer": 2', r"line 3: not valid JSON"),
        ('["1+1", 2]', r"line 3: expected a JSON object"),
        ('{"answer": 2}', r"line 3: missing the field 'question'"),
        ('{"question": "", "answer": 2}', r"line 3: 'question' must be a non-empty string"),
        ('{"question": "1+1"}', r"line 3: missing the field 'answer'"),
        ('{"question": "1+1", "answer": [2]}', r"line 3: 'answer' must be a string or a number"),
        ('{"question": "1+1", "answer": true}', r"line 3: 'answer' must be a string or a number"),
        (
            '{"id": "a", "question": "1+2", "answer": 3}',
            r"line 3: duplicate id 'a' \(first on line 1\)",
        ),
    ],
)
def test_malformed_lines_name_the_line(tmp_path: Path, bad: str, message: str) -> None:
    path = write(
        tmp_path / "bad.jsonl",
        [json.dumps({"id": "a", "question": "2+2", "answer": 4}), "   ", bad],
    )
    with pytest.raises(ValueError, match=message) as err:
        load_jsonl(path)
    assert "bad.jsonl" in str(err.value)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holds no question"):
        load_jsonl(write(tmp_path / "empty.jsonl", ["", " "]))
    with pytest.raises(FileNotFoundError, match="--data"):
        load_jsonl(tmp_path / "missing.jsonl")


def test_ttc_bench_reports_the_bad_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "mine.jsonl", [json.dumps({"question": "1+1", "answer": 2}), "{oops"])
    code = main(["bench", "--data", str(path), "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "line 2: not valid JSON" in err and "mine.jsonl" in err
    assert err.count("\n") == 1  # one line, no traceback


def test_checkers() -> None:
    assert default_checker("7", "7.0") and not default_checker("7", "8")
    assert load_checker("langgraph_ttc.answers:answers_equal")("1/2", "0.5")
    with pytest.raises(ValueError, match="module:function"):
        load_checker("no_colon")
    with pytest.raises(ValueError, match="cannot import module"):
        load_checker("no_such_module_xyz:check")
    with pytest.raises(ValueError, match="has no attribute"):
        load_checker("langgraph_ttc.answers:nope")
    with pytest.raises(TypeError, match="not callable"):
        load_checker("langgraph_ttc.answers:__all__")
    assert not is_correct(default_checker, None, "7")
    with pytest.raises(TypeError, match="must return a bool"):
        is_correct(lambda a, r: "yes", "7", "7")  # type: ignore[arg-type,return-value]


def test_suite_items_are_stable() -> None:
    items = suite_items("test", 12)
    assert items == suite_items("test", 12)
    assert {i.group for i in items} == {f"ops={k}" for k in range(1, 7)}
    assert all(i.qid == question_id(i.question) for i in items)


def test_ttc_bench_on_a_users_file_with_real_transformers_models(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path / "mine.jsonl",
        [json.dumps({"id": f"q{i}", "question": f"{i}+{i}", "answer": 2 * i}) for i in range(1, 6)],
    )
    out = tmp_path / "out"
    args = [
        "bench",
        "--data",
        str(path),
        "--checker",
        "langgraph_ttc.answers:answers_equal",
        "--model",
        str(tiny_model_dir),
        "--verifier",
        str(tiny_model_dir),
        "--out",
        str(out),
        "--budgets",
        "1,2",
        "--tree-budgets",
        "2",
        "--router-budgets",
        "2",
        "--pool-size",
        "2",
        "--seeds",
        "1",
        "--max-tokens",
        "8",
        "--arms",
        "greedy,majority,bon_weighted,beam_m4",
        "--no-progress",
    ]
    assert main(args) == 0, capsys.readouterr().err
    data = json.loads((out / "results.json").read_text())
    assert data["questions"] == {"data": 5}
    curves = data["splits"]["data"]["curves"]
    assert {"greedy", "majority", "bon_weighted", "beam_m4"} <= set(curves)
    assert (out / "report.md").read_text().startswith("# langgraph-ttc benchmark")
    # Run again: everything comes from the cache.
    assert main(args) == 0
    assert "0 units computed" in capsys.readouterr().out
