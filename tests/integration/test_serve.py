"""``ttc serve`` as a real process on the bundled models, called with the ``openai`` SDK.

One server process for the module (``ttc serve`` on 127.0.0.1, an API key,
one torch thread, a concurrency cap of 8): a plain request, a per-request
strategy (model name and ``extra_body``), streaming (progress chunks arrive
well before the run ends), ``/v1/models``, the errors (401, 400, 413, 429,
out-of-task 400) with no secret, path or traceback in any body or log line,
and a bounded load test (64 requests, 8 at a time, every budget respected;
the throughput is printed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _servers import ServeProcess, _kill, free_port

from langgraph_ttc.suite.task import evaluate

pytestmark = pytest.mark.integration

KEY = "ttc-test-key-5f0c2a9e"
UPSTREAM = "sk-upstream-secret-77aa91"  # in the server's environment; must never show
Q = "17*3+25-4*6"
QUESTIONS = ("17*3+25-4*6", "12+7*3", "8*3-7", "5*6-7", "12+3*4", "9*9-30+4", "2+3*4-5", "21-4*3")
MAX_QUESTION = 200
ERROR_BODIES: list[str] = []


def _ready(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": f"Bearer {KEY}"}
    )
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ttc serve exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"ttc serve not ready in {timeout}s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    pytest.importorskip("openai")
    from langgraph_ttc.defaults import bundled_available

    if not bundled_available():
        pytest.skip("the bundled models are not installed")
    workdir = tmp_path_factory.mktemp("ttc-serve")
    port = free_port()
    exe = Path(sys.executable).with_name("ttc")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "langgraph_ttc.cli"]
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        OPENAI_API_KEY=UPSTREAM,
        LANGSMITH_TRACING="false",
    )
    env.pop("TTC_API_KEY", None)
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                *command,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--api-key",
                KEY,
                "--threads",
                "1",
                "--max-concurrent",
                "8",
                "--max-budget",
                "32",
                "--max-question-chars",
                str(MAX_QUESTION),
                "--max-run-seconds",
                "60",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
            start_new_session=True,
        )
    srv = ServeProcess(proc, port, log_path)
    try:
        try:
            _ready(port, proc, 120)
        except RuntimeError as exc:
            pytest.fail(f"{exc}\n{srv.log_tail()}")
        yield srv
    finally:
        _kill(proc)


def _client(server: ServeProcess, key: str = KEY, **kw: Any) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=server.base_url, api_key=key, max_retries=0, timeout=60, **kw)


def _aclient(server: ServeProcess) -> Any:
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=60)


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _record(exc: Any) -> Any:
    """Keep an error's raw body for the no-secrets check."""
    ERROR_BODIES.append(exc.response.text)
    return exc


def test_plain_request(server: ServeProcess) -> None:
    reply = _client(server).chat.completions.create(model="ttc", messages=_user(Q), seed=0)
    ttc = reply.model_extra["ttc"]
    assert reply.object == "chat.completion" and reply.model == "ttc"
    assert reply.choices[0].message.role == "assistant"
    assert ttc["status"] == "done" and ttc["answer"] == str(evaluate(Q)), ttc
    assert reply.choices[0].message.content.strip().endswith(f"#### {ttc['answer']}")
    assert ttc["strategy"] and ttc["difficulty"] in range(1, 6)
    usage = reply.usage.model_dump()
    assert usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 0 < usage["generations"] <= 16  # the server's default budget
    assert 0 < usage["probe_generations"] <= usage["generations"]
    assert usage["probe_completion_tokens"] <= usage["completion_tokens"]
    assert usage["verifier_tokens"] > 0  # the verifier's compute, counted apart


def test_strategy_per_request(server: ServeProcess) -> None:
    client = _client(server)
    beam = client.chat.completions.create(model="ttc-beam-8", messages=_user(Q))
    assert beam.model_extra["ttc"]["strategy"] == "beam"
    assert beam.model_extra["ttc"]["difficulty"] is None  # forced: no probes
    assert beam.usage.model_dump()["generations"] <= 8
    vote = client.chat.completions.create(
        model="ttc",
        messages=_user("12+7*3"),
        extra_body={"ttc": {"strategy": "majority", "budget": 4, "seed": 1}},
    )
    ttc = vote.model_extra["ttc"]
    assert (ttc["strategy"], ttc["budget"], ttc["seed"]) == ("majority", 4, 1)
    assert vote.usage.model_dump()["generations"] <= 4


def test_streaming_sends_progress_as_the_search_runs(server: ServeProcess) -> None:
    stream = _client(server).chat.completions.create(
        model="ttc-beam-16",
        messages=_user(Q),
        stream=True,
        stream_options={"include_usage": True},
    )
    arrivals: list[tuple[float, Any]] = [(time.monotonic(), c) for c in stream]
    kinds = []
    for _, c in arrivals:
        delta = c.choices[0].delta if c.choices else None
        if delta is None:
            kinds.append("usage")
        elif (delta.model_extra or {}).get("reasoning_content"):
            kinds.append("progress")
        elif delta.content:
            kinds.append("content")
        elif c.choices[0].finish_reason:
            kinds.append("finish")
        else:
            kinds.append("role")
    assert kinds[0] == "role" and kinds[-3:] == ["content", "finish", "usage"], kinds
    progress = [t for (t, _), k in zip(arrivals, kinds, strict=True) if k == "progress"]
    assert len(progress) >= 4
    final = arrivals[kinds.index("content")][0]
    # Chunks came as the search ran, not in one burst at its end.
    assert final - progress[0] > 0.05, (final - progress[0], kinds)
    event = arrivals[kinds.index("progress")][1].model_extra["ttc_progress"]
    assert event["node"] in ("prepare", "generate", "route")
    finish = arrivals[kinds.index("finish")][1]
    assert finish.model_extra["ttc"]["strategy"] == "beam"
    assert arrivals[-1][1].usage.model_dump()["generations"] <= 16


def test_models(server: ServeProcess) -> None:
    ids = [m.id for m in _client(server).models.list()]
    assert ids[0] == "ttc"
    assert {"ttc-greedy", "ttc-majority", "ttc-best-of-n", "ttc-beam", "ttc-revise"} <= set(ids)
    card = _client(server).models.retrieve("ttc-beam-16")
    assert card.model_extra["ttc"] == {"strategy": "beam", "budget": 16, "max_budget": 32}


def test_401_without_the_key(server: ServeProcess) -> None:
    import openai

    with pytest.raises(openai.AuthenticationError) as err:
        _client(server, key="wrong-key").chat.completions.create(model="ttc", messages=_user(Q))
    _record(err.value)
    for path in ("/v1/models", "/v1/chat/completions", "/anything"):
        with pytest.raises(urllib.error.HTTPError) as raw:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5)
        assert raw.value.code == 401, path
        ERROR_BODIES.append(raw.value.read().decode())


def test_400_unknown_strategy_and_budget_over_cap(server: ServeProcess) -> None:
    import openai

    client = _client(server)
    with pytest.raises(openai.BadRequestError, match="unknown strategy 'nope'") as err:
        client.chat.completions.create(model="ttc-nope", messages=_user(Q))
    _record(err.value)
    with pytest.raises(openai.BadRequestError, match="over this server's cap of 32") as err:
        client.chat.completions.create(
            model="ttc", messages=_user(Q), extra_body={"ttc": {"budget": 1000}}
        )
    _record(err.value)
    with pytest.raises(openai.BadRequestError, match="bundled models cannot answer") as err:
        client.chat.completions.create(model="ttc", messages=_user("What is the capital of Peru?"))
    _record(err.value)
    with pytest.raises(openai.BadRequestError, match="unknown ttc fields") as err:
        client.chat.completions.create(
            model="ttc", messages=_user(Q), extra_body={"ttc": {"api_key": KEY}}
        )
    _record(err.value)


def test_413_oversized_question(server: ServeProcess) -> None:
    import openai

    with pytest.raises(openai.APIStatusError) as err:
        _client(server).chat.completions.create(
            model="ttc", messages=_user("1+" * MAX_QUESTION + "1")
        )
    assert err.value.status_code == 413
    assert "at most 200" in err.value.message
    _record(err.value)


async def test_429_past_the_concurrency_cap(server: ServeProcess) -> None:
    import openai

    client = _aclient(server)
    streams = [
        await client.chat.completions.create(
            model="ttc-beam-32", messages=_user(q), stream=True, extra_body={"ttc": {"seed": i}}
        )
        for i, q in enumerate(QUESTIONS)
    ]
    try:
        for s in streams:  # every run has started: the role chunk comes first
            await s.__anext__()
        with pytest.raises(openai.RateLimitError, match="cap") as err:
            await client.chat.completions.create(model="ttc-greedy", messages=_user(Q))
        _record(err.value)
        assert err.value.response.headers.get("retry-after") == "1"
    finally:
        for s in streams:  # read them out, so their runs end and free their slots
            async for _ in s:
                pass
    ok = await client.chat.completions.create(model="ttc-greedy", messages=_user(Q))
    assert ok.model_extra["ttc"]["status"] == "done"


async def test_load_64_requests_8_at_a_time(server: ServeProcess) -> None:
    client = _aclient(server)
    models = ("ttc-4", "ttc-majority-4", "ttc-best-of-n-4", "ttc-beam-4", "ttc-greedy")
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
        model = models[i % len(models)]
        async with gate:
            reply = await client.chat.completions.create(
                model=model, messages=_user(QUESTIONS[i % len(QUESTIONS)]), seed=i
            )
        return model, reply.model_extra["ttc"], reply.usage.model_dump()

    started = time.monotonic()
    results = await asyncio.gather(*(one(i) for i in range(64)))
    elapsed = time.monotonic() - started
    for model, ttc, usage in results:
        budget = 1 if model == "ttc-greedy" else 4
        assert usage["generations"] <= budget, (model, usage)
        assert ttc["status"] in ("done", "budget_exhausted"), (model, ttc)
        assert ttc["answer"] is not None, (model, ttc)
    print(
        f"\nttc serve load test: 64 requests, 8 concurrent, in {elapsed:.1f} s: "
        f"{64 / elapsed:.1f} requests/s (bundled models, 1 torch thread)"
    )


def test_no_secret_path_or_traceback_in_any_body_or_log(server: ServeProcess) -> None:
    assert len(ERROR_BODIES) >= 8
    log = server.log_tail(10**7)
    repo = str(Path(__file__).resolve().parents[2])
    for text in [*ERROR_BODIES, log]:
        for leak in (KEY, UPSTREAM, "Traceback", repo, sys.prefix, str(Path.home())):
            assert leak not in text, (leak, text[-2000:])
    for body in ERROR_BODIES:
        error = json.loads(body)["error"]
        assert error["message"] and error["type"]
    assert "POST /v1/chat/completions 200" in log  # one access line per request


def test_readme_client_snippet_prints_what_it_says(
    server: ServeProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("### An OpenAI-compatible server", 1)[1].split("\n### ", 1)[0]
    (code,) = re.findall(r"```py\n(.*?)```", section, re.S)
    code = code.replace("http://127.0.0.1:8000/v1", server.base_url)
    code = code.replace('"unused-on-loopback"', repr(KEY))
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    *content, ttc, tokens = capsys.readouterr().out.strip().splitlines()
    assert content[-1] == "#### 52"  # as the snippet's comment says
    assert "'strategy': 'beam'" in ttc
    assert int(tokens.split()[0]) > 0 and float(tokens.split()[1]) <= 16
