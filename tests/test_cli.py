"""The ``ttc`` command: in-process with scripted models, and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from langgraph_ttc import cli
from langgraph_ttc.suite.task import evaluate
from tests.fakes import ScriptedGenerator, ScriptedVerifier

Q = "17*3+25-4*6"  # inside the bundled task: no-model runs check it
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace model loading with scripted models; returns them for inspection."""
    models: dict[str, Any] = {
        "generator": ScriptedGenerator(error_rate=0.2),
        "verifier": ScriptedVerifier(),
        "reviser": None,
    }

    def build(args: Any) -> tuple[Any, Any, Any]:
        models["args"] = args
        return models["generator"], models["verifier"], models["reviser"]

    monkeypatch.setattr(cli, "_build_models", build)
    return models


def _fitted(models: dict[str, Any], tmp_path: Path) -> str:
    """The shipped policy's table, as if fitted on the scripted models: it routes by difficulty."""
    from dataclasses import replace

    from langgraph_ttc.router import ComputePolicy
    from langgraph_ttc.router.fitted import run_models

    policy = ComputePolicy.default()
    fitted = replace(policy, fitted_for=run_models(models["generator"], models["verifier"]))
    return str(fitted.save(tmp_path / "fitted.json"))


def test_solve_prints_answer_strategy_difficulty_compute(
    scripted: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _fitted(scripted, tmp_path)
    assert cli.main(["solve", Q, "--budget", "16", "--seed", "3", "--policy", policy]) == 0
    out = capsys.readouterr().out
    assert f"answer: {evaluate(Q)}" in out
    assert "strategy: " in out and "difficulty bin" in out
    assert "compute: 16 generations" in out
    assert "status: done" in out


def test_other_models_run_the_generic_policy(
    scripted: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # The shipped policy was fitted on the bundled models, not on these.
    assert cli.main(["solve", Q, "--budget", "16", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert f"answer: {evaluate(Q)}" in out
    assert "strategy: adaptive (difficulty not estimated)" in out


def test_solve_json(
    scripted: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _fitted(scripted, tmp_path)
    assert cli.main(["solve", Q, "--json", "--budget", "8", "--policy", policy]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"answer", "strategy", "difficulty", "usage", "status"}
    assert data["answer"] == str(evaluate(Q))
    assert data["difficulty"] in range(1, 6)
    assert data["usage"]["generations"] <= 8
    assert data["status"] == "done"


def test_forced_strategy(scripted: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["solve", Q, "--strategy", "best-of-n", "--budget", "6", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["strategy"], data["difficulty"], data["plan"]["n"]) == ("best_of_n", None, 6)
    assert scripted["generator"].sample_counts == [6]


def test_forced_search_without_verifier_is_bad_input(
    scripted: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    scripted["verifier"] = None
    assert cli.main(["solve", Q, "--strategy", "beam"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs a verifier" in err


def test_progress_bar_follows_the_stream(
    scripted: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _fitted(scripted, tmp_path)
    assert cli.main(["solve", Q, "--budget", "16", "--progress", "--policy", policy]) == 0
    err = capsys.readouterr().err
    # tqdm redraws: the bar reaches the whole budget, and names the running node.
    assert "16/16" in err
    assert "gen" in err
    assert "select" in err or "verify" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["solve", "  "], "question must be a non-empty string"),
        (["solve", Q, "--budget", "0"], "--budget: expected a positive integer"),
        (["solve", Q, "--budget", "x"], "--budget: expected a positive integer"),
        (["solve", Q, "--strategy", "nope"], "--strategy: invalid choice"),
        (["solve"], "required: question"),
        (["solve", Q, "  "], "question 2: question must be a non-empty string"),
        (["solve", Q, "2+3", "--total", "1"], "smaller than the number of questions (2)"),
        (["solve", Q, "--total", "8"], "--total is for several questions"),
        (["solve", Q, "2+3", "--strategy", "beam"], "--strategy applies to one question"),
        (["solve", "--file", "/no/such/questions.txt"], "--file: no file at"),
        (["solve", Q, "what is love?"], "question 2: "),
        (["solve", Q, "--bogus"], "unrecognized arguments"),
        (["frobnicate"], "invalid choice"),
        (["solve", Q, "--model", "./no/such/dir"], "--model: no model folder"),
        (["solve", Q, "--endpoint", "http://x/v1"], "--endpoint needs --endpoint-model"),
        (["solve", Q, "--api-key", "k"], "need --endpoint"),
        (
            ["solve", Q, "--model", "m", "--endpoint", "http://x/v1", "--endpoint-model", "m"],
            "exclusive",
        ),
        (["solve", Q, "--policy", "/no/such/policy.json"], "No such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ttc") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err


def test_bad_policy_file_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "policy.json"
    bad.write_text(json.dumps({"thresholds": [0.1, 0.2, 0.3, 0.4], "table": {}}))
    assert cli.main(["solve", Q, "--policy", str(bad)]) == 2
    assert "strictly decreasing" in capsys.readouterr().err


def test_custom_policy_is_used(
    scripted: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from langgraph_ttc.router import ComputePolicy
    from langgraph_ttc.types import StrategyConfig

    table = {b: {1: StrategyConfig("majority", n=1, selection="majority")} for b in range(1, 6)}
    path = ComputePolicy(thresholds=(0.8, 0.6, 0.4, 0.2), table=table).save(tmp_path / "p.json")
    assert cli.main(["solve", Q, "--policy", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["strategy"] == "majority"


def test_no_answer_exits_1(scripted: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    scripted["generator"] = ScriptedGenerator(script=lambda s: "no idea")
    assert cli.main(["solve", Q, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "no_candidates"


# --------------------------------------------------------------------------- batches


def test_several_questions_share_one_budget(
    scripted: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qs = [Q, "2+3", "9*8-7"]
    policy = _fitted(scripted, tmp_path)
    assert cli.main(["solve", *qs, "--budget", "8", "--policy", policy]) == 0
    out = capsys.readouterr().out
    blocks = out.strip().split("\n\n")  # one a question, then the summary
    assert len(blocks) == 4 and blocks[0].startswith(f"[1] {Q}\nanswer: {evaluate(Q)}")
    assert blocks[1].startswith("[2] 2+3\nanswer: 5")
    assert blocks[3].startswith("batch: 3 questions, ") and " of 24 generations" in blocks[3]
    assert sum(scripted["generator"].sample_counts) <= 24


def test_a_file_of_questions_prints_one_json_line_each(
    scripted: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "questions.txt"
    path.write_text(f"{Q}\n\n2+3\n9*8-7\n")
    assert cli.main(["solve", "--file", str(path), "--total", "30", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["question"] for r in rows] == [Q, "2+3", "9*8-7"]
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert all(r["answer"] == str(evaluate(r["question"])) for r in rows)
    assert sum(r["budget"] for r in rows) <= 30
    assert sum(r["usage"]["generations"] for r in rows) <= 30
    assert set(rows[0]) >= {"answer", "strategy", "difficulty", "plan", "usage", "status"}


def test_an_empty_file_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("\n  \n")
    assert cli.main(["solve", "--file", str(path)]) == 2
    assert "holds no question" in capsys.readouterr().err


def test_a_batch_with_an_unanswered_question_exits_1(
    scripted: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    scripted["generator"] = ScriptedGenerator(script=lambda s: "no idea")
    assert cli.main(["solve", Q, "2+3", "--json"]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["status"] for r in rows] == ["no_candidates", "no_candidates"]


def test_a_batch_draws_a_bar_over_questions(
    scripted: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["solve", Q, "2+3", "--progress"]) == 0
    assert "2/2" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["solve", "--help"]) == 0
    assert "--budget" in capsys.readouterr().out


def test_extension_subcommands_register(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ttc_ext_demo.py").write_text(
        textwrap.dedent(
            """
            def register(subparsers):
                p = subparsers.add_parser("hello")
                p.add_argument("--n", type=int, default=1)
                p.set_defaults(handler=lambda args: print("hi" * args.n) or 0)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "EXTENSION_MODULES", ("ttc_ext_demo", "ttc_ext_missing"))
    assert cli.main(["hello", "--n", "2"]) == 0
    assert capsys.readouterr().out.strip() == "hihi"


def test_extension_with_a_missing_extra_does_not_break_solve(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scripted: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "ttc_ext_needs_extra.py").write_text("import not_installed_plotting_lib\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "EXTENSION_MODULES", ("ttc_ext_needs_extra",))
    assert cli.main(["solve", Q, "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["bench"]) == 2
    assert "not_installed_plotting_lib" in capsys.readouterr().err


def test_endpoint_options_build_an_openai_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    args = cli.build_parser().parse_args(
        [
            "solve",
            Q,
            "--endpoint",
            "http://127.0.0.1:9/v1",
            "--endpoint-model",
            "m",
            "--api-key",
            "k",
        ]
    )
    generator, verifier, reviser = cli._build_models(args)
    assert type(generator).__name__ == "OpenAIGenerator"
    assert verifier is None and reviser is None


def test_no_model_options_run_the_bundled_layout(
    tiny_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The default path (load_bundled), on a bundled-models folder made of the tiny model."""
    from langgraph_ttc import defaults
    from langgraph_ttc.suite import modeling

    for name in ("policy-small", "policy-large", "reviser"):
        (tmp_path / name).symlink_to(tiny_model_dir, target_is_directory=True)
    monkeypatch.setattr(modeling, "BUNDLED_DIR", tmp_path)
    defaults.load_bundled.cache_clear()
    try:
        rc = cli.main(["solve", "3+4*2", "--budget", "4", "--max-tokens", "12", "--json"])
        bundled = defaults.load_bundled()
    finally:
        defaults.load_bundled.cache_clear()
    assert rc in (0, 1)
    data = json.loads(capsys.readouterr().out)
    assert data["usage"]["verifier_calls"] >= 1  # the bundled verifier scored the samples
    # Not the bundled weights (a tiny model under their names): the generic policy runs.
    assert data["difficulty"] is None and data["strategy"] == "adaptive"
    assert (bundled.generator.name, bundled.verifier.name, bundled.reviser.name) == (
        "policy-small",
        "policy-large-likelihood",
        "reviser",
    )


def test_missing_bundled_models_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from langgraph_ttc import defaults
    from langgraph_ttc.suite import modeling

    monkeypatch.setattr(modeling, "BUNDLED_DIR", tmp_path)
    defaults.load_bundled.cache_clear()
    assert cli.main(["solve", Q]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bundled model 'policy-small' is missing" in err
    assert "pass your own models" in err


def test_subprocess_with_the_tiny_model(tiny_model_dir: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "langgraph_ttc.cli",
            "solve",
            "3+4*2",
            "--model",
            str(tiny_model_dir),
            "--verifier",
            str(tiny_model_dir),
            "--budget",
            "4",
            "--max-tokens",
            "12",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    # A random tiny model rarely writes an answer: exit 0 or 1, never a crash.
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(proc.stdout)
    assert data["status"] in ("done", "no_candidates")
    assert 0 < data["usage"]["generations"] <= 4
    assert data["difficulty"] is None  # a policy fitted on other models: the generic one
    assert "Traceback" not in proc.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "langgraph_ttc.cli", "solve", ""],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
