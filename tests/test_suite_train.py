"""The training pipeline runs every stage, resumes, and writes metrics and cards."""

from __future__ import annotations

import json
from pathlib import Path

from langgraph_ttc.bench.stats import auroc
from langgraph_ttc.training.cli import main


def test_smoke_pipeline_runs_every_stage_and_resumes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    main(["--out", str(out), "--scale", "smoke", "--device", "cpu"])
    for name in ("policy-small", "policy-large", "prm", "reviser"):
        assert (out / name / "model.safetensors").is_file()
        assert (out / name / "README.md").read_text().startswith(f"# {name}")
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["policies"]) == {"policy-small", "policy-large"}
    assert len(metrics["reviser"]["accuracy_after_revisions"]) == 5
    refined = json.loads((out / "reviser" / "training.json").read_text())
    assert refined["init"].startswith("the reviser of scale smoke")  # reviser-refine ran
    assert (out / "reviser" / "refine.json").is_file()
    rows = json.loads((out / "rollouts.json").read_text())
    assert all(len(r["labels"]) == len(r["steps"]) for r in rows)
    assert all(0.0 <= x <= 1.0 for r in rows for x in r["labels"])
    capsys.readouterr()
    main(["--out", str(out), "--scale", "smoke", "--device", "cpu", "--only", "data", "prm"])
    assert "prm: done already, skipped" in capsys.readouterr().out


def test_auroc() -> None:
    assert auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
