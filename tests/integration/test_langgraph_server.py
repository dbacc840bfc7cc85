"""The real ``langgraph dev`` serves ``graphs/langgraph.json`` without ``--allow-blocking``.

``langgraph dev`` runs every graph under blockbuster: a blocking call on the
event loop (globbing a model folder, loading weights or a tokenizer,
``time.sleep``) fails the run with ``BlockingError``. The test starts the real
server on the real config (paths made absolute, state kept in a temporary
folder), creates a thread, streams a run through ``langgraph-sdk`` and
checks the answer, then runs a second, concurrent pair of runs on the warm graph.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _servers import ServeProcess, langgraph_dev

from langgraph_ttc.suite.task import evaluate

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).resolve().parents[2] / "graphs" / "langgraph.json"
Q = "17*3+25-4*6"  # inside the bundled task: operands 1 to 30, + - *


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    missing = [m for m in ("langgraph_api", "langgraph_sdk") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"langgraph dev needs {missing}: pip install 'langgraph-cli[inmem]'")
    from langgraph_ttc.defaults import bundled_available

    if not bundled_available():
        pytest.skip("the bundled models are not installed")
    with langgraph_dev(CONFIG, tmp_path_factory.mktemp("langgraph-dev")) as srv:
        yield srv


async def _stream(url: str, question: str, seed: int) -> tuple[list[Any], dict[str, Any]]:
    from langgraph_sdk import get_client

    client = get_client(url=url)
    thread = await client.threads.create()
    parts = [
        part
        async for part in client.runs.stream(
            thread["thread_id"],
            "ttc",
            input={"question": question},
            context={"seed": seed, "budget": {"generations": 8}},
            stream_mode=["values", "custom"],
        )
    ]
    values = [p.data for p in parts if p.event == "values"]
    return parts, values[-1] if values else {}


def test_streams_a_run_without_allow_blocking(server: ServeProcess) -> None:
    url = f"http://127.0.0.1:{server.port}"
    parts, final = asyncio.run(_stream(url, Q, seed=0))
    errors = [p.data for p in parts if p.event == "error"]
    assert not errors, f"{errors}\n{server.log_tail(4000)}"
    assert final["status"] == "done" and final["answer"] == str(evaluate(Q)), final
    assert final["usage"]["generations"] <= 8
    progress = [p.data for p in parts if p.event == "custom"]
    assert "route" in {e["node"] for e in progress}  # the router's progress, as it happens

    async def pair() -> list[dict[str, Any]]:
        runs = await asyncio.gather(_stream(url, "5*6-7", 1), _stream(url, "12+3*4", 2))
        return [final for _, final in runs]

    for out, q in zip(asyncio.run(pair()), ("5*6-7", "12+3*4"), strict=True):
        assert out["status"] == "done" and out["answer"] is not None, (q, out)
    assert "BlockingError" not in server.log_tail(10**6)
