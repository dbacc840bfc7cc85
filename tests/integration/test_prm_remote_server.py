"""VLLMPRM through uvicorn and a faulty proxy: the same scores as the local PRM, faults survived.

The server is ``tests.prm_replicas.PoolingReplica`` (vLLM's pooling schema,
pooler and response bytes) run by uvicorn, the ASGI server vLLM runs on;
real vLLM cannot run on this CPU machine. In front of it the shared
``FaultyProxy`` injects 429, 500, 503, dropped connections, hangs past the
client's timeout, non-JSON bodies and JSON without ``data``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
from _servers import FaultyProxy

from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_best_of_n_graph
from langgraph_ttc.types import StrategyConfig
from langgraph_ttc.verifiers import VLLMPRM, load_prm, vllm_pooler_config
from tests.fakes import ScriptedGenerator
from tests.prm_replicas import PoolingReplica, build_skywork, serve_asgi

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("uvicorn") is None, reason="needs uvicorn"),
]

Q = "34*7-95+84*4"
SOLUTIONS = ["34*7=238\n84*4=336\n238-95=143\n143+336=479\n#### 479", "34*7=238\n#### 1", ""]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    folder = build_skywork(tmp_path_factory.mktemp("skywork"))
    replica = PoolingReplica(
        folder, kind="value", pooler_config=vllm_pooler_config(folder, "skywork")
    )
    with serve_asgi(replica) as port:
        yield folder, port


@pytest.fixture
def proxy(served: tuple[Path, int]) -> Iterator[FaultyProxy]:
    with FaultyProxy(served[1], hang_s=3.0) as px:
        yield px


def _prm(folder: Path, proxy: FaultyProxy, **kw: object) -> VLLMPRM:
    options: dict[str, object] = {"retry_backoff": 0.01, "max_backoff": 0.05, "timeout": 1.0}
    options.update(kw)
    return VLLMPRM(
        "skywork", format="skywork", tokenizer=folder, base_url=proxy.base_url, **options
    )  # type: ignore[arg-type]


def test_survives_every_fault_with_the_local_scores(
    served: tuple[Path, int], proxy: FaultyProxy
) -> None:
    folder = served[0]
    local = load_prm(folder).score(Q, SOLUTIONS)
    faults = ("429", "500", "503", "drop", "hang", "garbage", "nochoices")
    proxy.set_faults(faults)
    remote = _prm(folder, proxy, max_retries=len(faults)).score(Q, SOLUTIONS)
    assert proxy.stats.log == [*faults, "pass"]
    for a, b in zip(local.steps, remote.steps, strict=True):
        assert len(a) == len(b) and all(abs(x - y) < 1e-5 for x, y in zip(a, b, strict=True))
    assert remote.tokens == local.tokens


def test_gives_up_and_names_the_last_fault(served: tuple[Path, int], proxy: FaultyProxy) -> None:
    proxy.set_faults(default="500")
    with pytest.raises(BackendError, match=r"failed after 3 attempt\(s\); last error: HTTP 500"):
        _prm(served[0], proxy, max_retries=2).score(Q, SOLUTIONS)
    assert proxy.stats.log == ["500"] * 3
    proxy.set_faults(default="401")
    with pytest.raises(BackendError, match="rejected the request: HTTP 401"):
        _prm(served[0], proxy).score(Q, SOLUTIONS)
    assert proxy.stats.log == ["401"]


def test_best_of_n_scores_through_the_server(served: tuple[Path, int], proxy: FaultyProxy) -> None:
    proxy.set_faults(("429", "500"))
    prm = _prm(served[0], proxy, params=6577)
    gen = ScriptedGenerator(error_rate=0.3)
    graph = create_best_of_n_graph(gen, verifier=prm, config=StrategyConfig("best_of_n", n=4))
    out = graph.compile().invoke({"question": Q}, context=TTCContext(seed=0))
    assert out["status"] == "done", out.get("error")
    assert out["usage"]["verifier_tokens"] > 0
    assert proxy.stats.log[:2] == ["429", "500"]
