"""VLLMPRM against a replica of vLLM's pooling endpoint, over real HTTP on 127.0.0.1.

The server (``tests.prm_replicas.PoolingReplica``) follows vLLM's published
request and response schema and pooler; real vLLM cannot run on this CPU
machine. It is fed by the replica PRMs, so the remote scores can be checked
against ``load_prm``'s on the same weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.verifiers import VLLMPRM, load_prm, vllm_pooler_config
from tests.prm_replicas import (
    PoolingReplica,
    build_math_shepherd,
    build_qwen_prm,
    build_rlhflow,
    build_skywork,
    serve_http,
)

QUESTION = "What is 2+3*4?"
SOLUTIONS = [
    "Step 1: 3*4=12\nStep 2: 2+12=14\nThe answer is 14",
    "2+3=5\n5*4=20\n#### 20",
    "",
    "14",
]
KIND = {"math-shepherd": "lm", "rlhflow": "lm", "qwen-prm": "classifier", "skywork": "value"}
BUILD = {
    "math-shepherd": build_math_shepherd,
    "rlhflow": build_rlhflow,
    "qwen-prm": build_qwen_prm,
    "skywork": build_skywork,
}
FAST = {"retry_backoff": 0.01, "max_backoff": 0.02}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("remote-replicas")
    return {name: build(root / name) for name, build in BUILD.items()}


@pytest.fixture(scope="module")
def qwen(folders: dict[str, Path]) -> Iterator[tuple[PoolingReplica, str]]:
    folder = folders["qwen-prm"]
    replica = PoolingReplica(
        folder, kind="classifier", pooler_config=vllm_pooler_config(folder, "qwen-prm")
    )
    with serve_http(replica) as url:
        yield replica, url


def _remote(folder: Path, fmt: str, url: str, **kw: object) -> VLLMPRM:
    return VLLMPRM("prm", format=fmt, tokenizer=folder, base_url=url, **FAST, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", list(BUILD))
def test_same_scores_as_the_local_prm(folders: dict[str, Path], fmt: str) -> None:
    folder = folders[fmt]
    config = vllm_pooler_config(folder, fmt)
    replica = PoolingReplica(folder, kind=KIND[fmt], pooler_config=config)
    local = load_prm(folder).score(QUESTION, SOLUTIONS)
    with serve_http(replica) as url:
        remote = _remote(folder, fmt, url, params=1000).score(QUESTION, SOLUTIONS)
    assert len(replica.requests) == 1  # every solution of the call in one request
    for a, b in zip(local.steps, remote.steps, strict=True):
        assert len(a) == len(b)
        assert all(abs(x - y) < 1e-5 for x, y in zip(a, b, strict=True)), (a, b)
    assert remote.tokens == local.tokens
    assert remote.flops == 2.0 * 1000 * local.tokens


def test_every_token_pooled_is_read_at_the_score_positions(folders: dict[str, Path]) -> None:
    # Without step_tag_id the server returns a row per token; the client picks the positions.
    folder = folders["qwen-prm"]
    replica = PoolingReplica(folder, kind="classifier", pooler_config={"pooling_type": "ALL"})
    local = load_prm(folder).score(QUESTION, SOLUTIONS)
    with serve_http(replica) as url:
        remote = _remote(folder, "qwen-prm", url).score(QUESTION, SOLUTIONS)
    for a, b in zip(local.steps, remote.steps, strict=True):
        assert all(abs(x - y) < 1e-5 for x, y in zip(a, b, strict=True))


def test_skywork_through_the_embeddings_route(folders: dict[str, Path]) -> None:
    # Skywork's README queries its vLLM plugin through /v1/embeddings, raw values per token.
    folder = folders["skywork"]
    replica = PoolingReplica(folder, kind="value", pooler_config={"pooling_type": "ALL"})
    local = load_prm(folder).score(QUESTION, SOLUTIONS)
    with serve_http(replica) as url:
        prm = _remote(folder, "skywork", url + "/v1", api="embeddings")
        assert prm.endpoint == url + "/v1/embeddings"
        remote = prm.score(QUESTION, SOLUTIONS)
    assert set(replica.requests[0]) == {"model", "input", "add_special_tokens"}
    for a, b in zip(local.steps, remote.steps, strict=True):
        assert all(abs(x - y) < 1e-5 for x, y in zip(a, b, strict=True))


def test_bundled_prm_served(folders: dict[str, Path]) -> None:
    from langgraph_ttc.suite.modeling import bundled_model_path

    folder = bundled_model_path("prm")
    config = vllm_pooler_config(folder, "math-shepherd")
    assert config["pooling_type"] == "STEP" and len(config["returned_token_ids"]) == 2
    replica = PoolingReplica(folder, kind="lm", pooler_config=config)
    local = load_prm(folder).score(QUESTION, SOLUTIONS)
    with serve_http(replica) as url:
        remote = _remote(folder, "math-shepherd", url).score(QUESTION, SOLUTIONS)
    for a, b in zip(local.steps, remote.steps, strict=True):
        assert all(abs(x - y) < 1e-5 for x, y in zip(a, b, strict=True))


def test_request_follows_the_pooling_schema(
    qwen: tuple[PoolingReplica, str], folders: dict[str, Path]
) -> None:
    replica, url = qwen
    replica.requests.clear()
    prm = _remote(folders["qwen-prm"], "qwen-prm", url)
    prm.score(QUESTION, SOLUTIONS[:2])
    (body,) = replica.requests
    assert set(body) == {"model", "input", "task", "add_special_tokens"}
    assert body["model"] == "prm" and body["task"] == "token_classify"
    assert body["add_special_tokens"] is False
    assert body["input"] == [prm.encode(QUESTION, s).input_ids for s in SOLUTIONS[:2]]


def test_batch_size_and_async(qwen: tuple[PoolingReplica, str], folders: dict[str, Path]) -> None:
    import asyncio

    replica, url = qwen
    prm = _remote(folders["qwen-prm"], "qwen-prm", url, batch_size=1)
    replica.requests.clear()
    sync = prm.score(QUESTION, SOLUTIONS)
    assert len(replica.requests) == 3  # the empty solution is not sent
    assert asyncio.run(prm.ascore(QUESTION, SOLUTIONS)).steps == sync.steps


def test_survives_injected_429_and_500(
    qwen: tuple[PoolingReplica, str], folders: dict[str, Path]
) -> None:
    replica, url = qwen
    prm = _remote(folders["qwen-prm"], "qwen-prm", url)
    want = prm.score(QUESTION, SOLUTIONS)
    replica.requests.clear()
    replica.faults = ["429", "500", "429"]
    assert prm.score(QUESTION, SOLUTIONS).steps == want.steps
    assert len(replica.requests) == 4


def test_gives_up_after_the_retries(
    qwen: tuple[PoolingReplica, str], folders: dict[str, Path]
) -> None:
    replica, url = qwen
    prm = _remote(folders["qwen-prm"], "qwen-prm", url, max_retries=2)
    replica.faults = ["500"] * 3
    with pytest.raises(
        BackendError, match=r"/pooling failed after 3 attempt\(s\).*HTTP 500"
    ) as info:
        prm.score(QUESTION, SOLUTIONS)
    assert info.value.retryable and info.value.status == 500
    replica.faults = []


def test_a_4xx_is_not_retried(folders: dict[str, Path], qwen: tuple[PoolingReplica, str]) -> None:
    replica, url = qwen
    prm = _remote(folders["qwen-prm"], "qwen-prm", url, extra_body={"input": "text, not ids"})
    replica.requests.clear()
    with pytest.raises(BackendError, match=r"rejected the request: HTTP 400") as info:
        prm.score(QUESTION, SOLUTIONS)
    assert not info.value.retryable and len(replica.requests) == 1


def test_wrong_number_of_rows_or_results(
    qwen: tuple[PoolingReplica, str], folders: dict[str, Path]
) -> None:
    replica, url = qwen
    prm = _remote(folders["qwen-prm"], "qwen-prm", url)
    replica.faults = ["rows"]
    with pytest.raises(
        BackendError,
        match=r"input 0: the server returned 2 rows, but the input has 3 steps and \d+ tokens",
    ):
        prm.score(QUESTION, SOLUTIONS)
    replica.faults = ["items"]
    with pytest.raises(BackendError, match=r"returned 2 results for 3 inputs"):
        prm.score(QUESTION, SOLUTIONS)
    replica.faults = []


def test_pooler_config_per_format(folders: dict[str, Path]) -> None:
    from transformers import AutoTokenizer

    ms = vllm_pooler_config(folders["math-shepherd"], "math-shepherd")
    tok = AutoTokenizer.from_pretrained(folders["math-shepherd"])
    assert ms == {
        "pooling_type": "STEP",
        "step_tag_id": tok.encode("ки")[-1],
        "returned_token_ids": tok.encode("+ -")[1:],
    }
    qtok = AutoTokenizer.from_pretrained(folders["qwen-prm"])
    assert vllm_pooler_config(qtok, "qwen-prm") == {
        "pooling_type": "STEP",
        "step_tag_id": qtok.convert_tokens_to_ids("<extra_0>"),
    }
    assert "step_tag_id" not in vllm_pooler_config(folders["rlhflow"], "rlhflow")
    assert vllm_pooler_config(folders["skywork"], "skywork") == {"pooling_type": "ALL"}


def test_bad_options(folders: dict[str, Path]) -> None:
    folder = folders["qwen-prm"]
    with pytest.raises(ValueError, match=r"unknown PRM format 'x'.*qwen-prm"):
        VLLMPRM("prm", format="x", tokenizer=folder)
    with pytest.raises(ValueError, match="tokenizer is required"):
        VLLMPRM("prm", format="qwen-prm", tokenizer=None)
    with pytest.raises(ValueError, match="max_retries"):
        VLLMPRM("prm", format="qwen-prm", tokenizer=folder, max_retries=-1)
    with pytest.raises(ValueError, match="model"):
        VLLMPRM("", format="qwen-prm", tokenizer=folder)
    prm = VLLMPRM("prm", format="qwen-prm", tokenizer=folder, base_url="http://h:1/v1/")
    assert prm.endpoint == "http://h:1/pooling"
    with pytest.raises(ValueError, match="no step token '<extra_0>'"):
        VLLMPRM("prm", format="qwen-prm", tokenizer=folders["rlhflow"]).score(QUESTION, ["a"])
