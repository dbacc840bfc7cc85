"""LangSmith experiments of TTC graphs, offline: a client whose HTTP session is a fake server.

The fake answers what ``langsmith.evaluate`` asks (the dataset, its examples,
the experiment) and keeps what it uploads (runs, feedback); the tests check
that the experiment holds one root run per example, linked to it, and the
feedback the evaluators imply: ``correct`` by the checker, compute from the
run's usage.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import langsmith
import pytest
import requests

from langgraph_ttc.integrations.langsmith_experiments import (
    COMPUTE_KEYS,
    arun_experiment,
    compare_strategies,
    reference_checker,
    run_experiment,
    ttc_target,
)
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
from langgraph_ttc.suite.task import check, evaluate
from langgraph_ttc.types import STRATEGIES, Budget
from tests.fakes import ScriptedGenerator, ScriptedVerifier

QUESTIONS = ("17*3+25-4*6", "12+7*3", "8*3-7")
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC).isoformat()


class FakeLangSmith:
    """A LangSmith API in memory: one dataset; sessions, runs and feedback as uploaded."""

    def __init__(self, references: dict[str, str]) -> None:
        self.dataset_id = str(uuid.uuid4())
        self.tenant = str(uuid.uuid4())
        self.examples = [
            {
                "id": str(uuid.uuid4()),
                "dataset_id": self.dataset_id,
                "inputs": {"question": q},
                "outputs": {"answer": a},
                "created_at": NOW,
                "modified_at": NOW,
            }
            for q, a in references.items()
        ]
        self.sessions: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.feedback: list[dict[str, Any]] = []
        self.session = mock.MagicMock(spec=requests.Session)
        self.session.request.side_effect = self._request

    def client(self) -> Any:
        return langsmith.Client(
            api_key="test",
            api_url="http://localhost:1984",
            session=self.session,
            auto_batch_tracing=False,
            info={},
        )

    def _request(self, method: str, url: str, *args: Any, **kw: Any) -> requests.Response:
        path = url.split("localhost:1984", 1)[-1].split("?", 1)[0]
        raw = kw.get("data")
        body = json.loads(raw) if isinstance(raw, str | bytes) and raw else kw.get("json") or {}
        out: Any = {}
        dataset = {
            "id": self.dataset_id,
            "name": "arithmetic",
            "tenant_id": self.tenant,
            "created_at": NOW,
            "modified_at": NOW,
            "data_type": "kv",
        }
        if path.startswith("/sessions") and method in ("POST", "PATCH"):
            sid = path.rsplit("/", 1)[-1] if method == "PATCH" else body["id"]
            self.sessions.setdefault(sid, {"id": sid}).update(
                {k: v for k, v in body.items() if v is not None}
            )
            out = {
                "id": sid,
                "name": self.sessions[sid].get("name"),
                "tenant_id": self.tenant,
                "start_time": NOW,
                "reference_dataset_id": self.dataset_id,
            }
        elif path == "/datasets" and method == "GET":
            out = [dataset]
        elif path.startswith("/datasets/") and method == "GET":
            out = dataset
        elif path == "/examples" and method == "GET":
            offset = (kw.get("params") or {}).get("offset", 0)
            out = self.examples if offset == 0 else []
        elif path == "/runs" and method == "POST":
            self.runs.setdefault(body["id"], {}).update(body)
        elif path.startswith("/runs/") and method == "PATCH":
            self.runs.setdefault(path.rsplit("/", 1)[-1], {}).update(body)
        elif path == "/feedback" and method == "POST":
            self.feedback.append(body)
        response = requests.Response()
        response.status_code = 200
        response.url = url
        response._content = json.dumps(out).encode()
        response.headers["Content-Type"] = "application/json"
        return response

    def experiment(self, prefix: str) -> dict[str, Any]:
        (session,) = [s for s in self.sessions.values() if str(s.get("name")).startswith(prefix)]
        return session

    def roots(self, session: dict[str, Any]) -> list[dict[str, Any]]:
        """The experiment's root runs (one per example), by example id."""
        return [
            r
            for r in self.runs.values()
            if r.get("session_name") == session["name"] and r.get("reference_example_id")
        ]

    def feedback_of(self, run_id: str) -> dict[str, Any]:
        return {f["key"]: f["score"] for f in self.feedback if f["run_id"] == run_id}


@pytest.fixture
def server() -> Iterator[FakeLangSmith]:
    # The second reference is wrong on purpose: a reference checker must say so.
    yield FakeLangSmith(
        {q: str(evaluate(q) + (1 if i == 1 else 0)) for i, q in enumerate(QUESTIONS)}
    )


def _graph(error_rate: float = 0.0) -> Any:
    gen = ScriptedGenerator(error_rate=error_rate)
    return create_ttc_graph(gen, verifier=ScriptedVerifier()).compile()


def _check_experiment(
    server: FakeLangSmith, session: dict[str, Any], *, budget: float, by_reference: bool
) -> None:
    roots = server.roots(session)
    examples = {e["id"]: e for e in server.examples}
    assert sorted(r["reference_example_id"] for r in roots) == sorted(examples)
    for run in roots:
        example = examples[run["reference_example_id"]]
        question, reference = example["inputs"]["question"], example["outputs"]["answer"]
        outputs = run["outputs"]
        feedback = server.feedback_of(run["id"])
        assert set(feedback) == {"correct", *COMPUTE_KEYS}
        truth = (
            outputs["answer"] == reference if by_reference else check(outputs["answer"], question)
        )
        assert feedback["correct"] == int(truth), (question, outputs["answer"], reference)
        usage = outputs["usage"]
        for key in COMPUTE_KEYS[:-1]:
            assert feedback[key] == usage[key]
        assert 0 < feedback["generations"] <= budget
        voted = session["extra"]["metadata"]["ttc_strategy"] == "majority"  # no verifier
        assert (feedback["verifier_tokens"] == 0) if voted else (feedback["verifier_tokens"] > 0)
        assert feedback["wall_time_s"] == outputs["wall_time_s"] > 0


def test_experiment_over_examples_with_the_task_checker(server: FakeLangSmith) -> None:
    examples = server.client().list_examples(dataset_id=server.dataset_id)
    context = TTCContext(seed=0, budget=Budget(generations=8))
    run_experiment(_graph(), list(examples), client=server.client(), context=context)
    session = server.experiment("ttc")
    assert session["reference_dataset_id"] == server.dataset_id
    assert session["extra"]["metadata"]["ttc_budget"] == 8
    _check_experiment(server, session, budget=8, by_reference=False)
    scores = [server.feedback_of(r["id"])["correct"] for r in server.roots(session)]
    assert scores == [1, 1, 1]  # the task's checker needs no reference


def test_experiment_over_a_dataset_name_with_the_reference_checker(server: FakeLangSmith) -> None:
    run_experiment(
        _graph(),
        "arithmetic",
        client=server.client(),
        checker=reference_checker,
        experiment_prefix="by-reference",
        context=TTCContext(budget=Budget(generations=8)),
    )
    session = server.experiment("by-reference")
    _check_experiment(server, session, budget=8, by_reference=True)
    assert sorted(server.feedback_of(r["id"])["correct"] for r in server.roots(session)) == [
        0,
        1,
        1,
    ]


def test_strategies_side_by_side(server: FakeLangSmith) -> None:
    results = compare_strategies(
        ScriptedGenerator(error_rate=0.3),
        "arithmetic",
        verifier=ScriptedVerifier(),
        strategies=("auto", "majority", "beam"),
        budget=8,
        client=server.client(),
    )
    assert list(results) == ["auto", "majority", "beam"]
    for name, prefix in (
        ("auto", "ttc-auto-b8"),
        ("majority", "ttc-majority-b8"),
        ("beam", "ttc-beam-b8"),
    ):
        session = server.experiment(prefix)
        assert session["extra"]["metadata"]["ttc_strategy"] == name
        _check_experiment(server, session, budget=8, by_reference=False)
        strategies = {r["outputs"]["strategy"] for r in server.roots(session)}
        assert (
            strategies == {name}
            if name != "auto"
            else strategies <= set(STRATEGIES)  # the generic policy (scripted models) runs adaptive
        )


async def test_async_experiment(server: FakeLangSmith) -> None:
    await arun_experiment(
        _graph(),
        "arithmetic",
        client=server.client(),
        experiment_prefix="async",
        context=TTCContext(budget=Budget(generations=4)),
        max_concurrency=2,
    )
    # aevaluate hands feedback to a thread pool of its own and returns without waiting for it.
    session = server.experiment("async")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(server.feedback) < len(QUESTIONS) * 7:
        await asyncio.sleep(0.05)
    _check_experiment(server, session, budget=4, by_reference=False)


def test_bad_input_names_the_problem() -> None:
    with pytest.raises(ValueError, match="no question under 'question'"):
        ttc_target(_graph())({"q": "1+2"})
    with pytest.raises(TypeError, match="compiled graph"):
        ttc_target(object())
    with pytest.raises(ValueError, match="strategies must be auto or one of"):
        compare_strategies(ScriptedGenerator(), [], strategies=("fast",))
    with pytest.raises(ValueError, match=r"'beam'.*needs a verifier"):
        compare_strategies(ScriptedGenerator(), [], strategies=("beam",))
    with pytest.raises(ValueError, match="needs a reference answer"):
        reference_checker("1", "1+0", None)
