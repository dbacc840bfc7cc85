"""The OpenAI-compatible server in process, on scripted models: the protocol, caps and redaction.

The real process, the ``openai`` SDK and the load test are in
``tests/integration/test_serve.py``; here each rule is checked fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from langgraph_ttc.cli import main
from langgraph_ttc.integrations.server import ServerSettings, create_app, is_loopback
from langgraph_ttc.integrations.server.logs import RedactFilter, add_secrets, redact
from langgraph_ttc.integrations.server.protocol import APIError, parse_model, parse_request
from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.types import Completion, GenerationRequest
from tests.fakes import ScriptedGenerator, ScriptedVerifier, shipped_policy_unfitted

KEY = "unit-test-key-0042"
AUTH = {"Authorization": f"Bearer {KEY}"}
Q = "17*3+25-4*6"


def _app(generator: Any = None, **kw: Any) -> TestClient:
    settings = ServerSettings(api_key=KEY, **kw.pop("settings", {}))
    verifier = kw.pop("verifier", ScriptedVerifier())
    kw.setdefault("policy", shipped_policy_unfitted())  # routed runs probe, as on its models
    app = create_app(generator or ScriptedGenerator(), verifier=verifier, settings=settings, **kw)
    return TestClient(app)


def _ask(client: TestClient, model: str = "ttc", **body: Any) -> Any:
    body.setdefault("messages", [{"role": "user", "content": Q}])
    return client.post("/v1/chat/completions", headers=AUTH, json={"model": model, **body})


# --------------------------------------------------------------------------- protocol


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ttc", (None, None)),
        ("TTC-16", (None, 16)),
        ("ttc-beam", ("beam", None)),
        ("ttc-beam-16", ("beam", 16)),
        ("ttc-best-of-n-8", ("best_of_n", 8)),
        ("ttc-auto-32", ("auto", 32)),
    ],
)
def test_model_names(name: str, expected: tuple[Any, Any]) -> None:
    assert parse_model(name) == expected


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [
        ({"model": "gpt-4o"}, 400, "not served here"),
        ({"model": "ttc-nope"}, 400, "unknown strategy 'nope'"),
        ({"ttc": {"strategy": "fast"}}, 400, "unknown strategy 'fast'"),
        ({"model": "ttc-100"}, 400, "over this server's cap of 64"),
        ({"ttc": {"budget": 0}}, 400, "at least 1"),
        ({"ttc": {"budget": "8"}}, 400, "ttc.budget must be an integer"),
        ({"ttc": {"bugdet": 8}}, 400, "unknown ttc fields \\['bugdet'\\]"),
        ({"ttc": 3}, 400, "ttc must be an object"),
        ({"n": 2}, 400, "n must be 1"),
        ({"tools": [{"type": "function"}]}, 400, "tools are not supported"),
        ({"response_format": {"type": "json_object"}}, 400, "response_format"),
        ({"max_tokens": 5000}, 400, "max_tokens must be 1 to 512"),
        ({"ttc": {"timeout": 600}}, 400, "at most 60 s"),
        ({"messages": []}, 400, "non-empty list"),
        ({"messages": [{"role": "system", "content": "x"}]}, 400, "no user message"),
        ({"messages": [{"role": "user", "content": "  "}]}, 400, "holds no text"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400, "image_url"),
        ({"messages": [{"role": "user", "content": "1+" * 3000}]}, 413, "at most 4000"),
        ({"stop": ["a"] * 5}, 400, "up to 4 strings"),
        ({"stream": "yes"}, 400, "stream must be true or false"),
    ],
)
def test_bad_requests_name_the_field(body: dict[str, Any], status: int, match: str) -> None:
    body = {"model": "ttc", "messages": [{"role": "user", "content": Q}], **body}
    with pytest.raises(APIError, match=match) as err:
        parse_request(body, ServerSettings())
    assert err.value.status == status


def test_request_fields() -> None:
    req = parse_request(
        {
            "model": "ttc-beam-8",
            "messages": [
                {"role": "user", "content": "ignored"},
                {"role": "assistant", "content": "..."},
                {"role": "user", "content": [{"type": "text", "text": Q}]},
            ],
            "seed": 3,
            "max_completion_tokens": 100,
            "stream": True,
            "stream_options": {"include_usage": True},
            "stop": "####",
            "temperature": 0.3,  # accepted, ignored: the strategy samples
            "ttc": {"budget": 4, "timeout": 5},
        },
        ServerSettings(),
    )
    assert (req.question, req.strategy, req.budget, req.seed) == (Q, "beam", 4, 3)
    assert (req.max_tokens, req.timeout_s, req.stream, req.include_usage) == (100, 5.0, True, True)
    assert req.stop == ("####",)


# --------------------------------------------------------------------------- routes


def test_completion_stream_and_models() -> None:
    with _app() as client:
        reply = _ask(client, "ttc-beam-8", seed=1).json()
        assert reply["object"] == "chat.completion"
        assert reply["ttc"]["answer"] == "52" and reply["ttc"]["strategy"] == "beam"
        assert reply["choices"][0]["message"]["content"].endswith("#### 52")
        assert reply["usage"]["generations"] <= 8 and reply["usage"]["verifier_tokens"] > 0
        routed = _ask(client, "ttc-8").json()["usage"]
        assert routed["probe_generations"] > 0 and routed["generations"] <= 8
        cut = _ask(client, "ttc-best-of-n-4", stop=["\n"]).json()
        assert "\n" not in cut["choices"][0]["message"]["content"]
        with client.stream(
            "POST",
            "/v1/chat/completions",
            headers=AUTH,
            json={"model": "ttc", "stream": True, "messages": [{"role": "user", "content": Q}]},
        ) as stream:
            lines = [ln for ln in stream.iter_lines() if ln]
        assert lines[-1] == "data: [DONE]"
        chunks = [json.loads(ln.removeprefix("data: ")) for ln in lines[:-1]]
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        progress = [c for c in chunks if "ttc_progress" in c]
        assert progress[0]["ttc_progress"]["node"] == "route"
        assert progress[0]["choices"][0]["delta"]["reasoning_content"].startswith("route:")
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and "ttc" in chunks[-1]
        ids = [m["id"] for m in client.get("/v1/models", headers=AUTH).json()["data"]]
        assert ids[:2] == ["ttc", "ttc-greedy"]
        assert client.get("/v1/models/ttc-beam-4", headers=AUTH).status_code == 200
        assert client.get("/v1/models/ttc-beam-400", headers=AUTH).status_code == 404
        assert client.get("/v1/models/gpt", headers=AUTH).status_code == 404


def test_key_on_every_route_and_openai_shaped_errors() -> None:
    with _app() as client:
        for method, path in (
            ("GET", "/v1/models"),
            ("POST", "/v1/chat/completions"),
            ("GET", "/x"),
        ):
            out = client.request(method, path)
            assert out.status_code == 401 and out.json()["error"]["code"] == "invalid_api_key"
            wrong = client.request(method, path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
        missing = client.get("/x", headers=AUTH)
        assert (
            missing.status_code == 404 and missing.json()["error"]["message"] == "no route GET /x"
        )
        assert client.get("/docs", headers=AUTH).status_code == 404
        bad = client.post("/v1/chat/completions", headers=AUTH, content=b"{not json")
        assert bad.status_code == 400 and "not valid JSON" in bad.text
        big = client.post("/v1/chat/completions", headers=AUTH, content=b" " * 2_000_000)
        assert big.status_code == 413


def test_open_server_without_key_and_no_verifier() -> None:
    app = create_app(ScriptedGenerator(), settings=ServerSettings())
    with TestClient(app) as client:
        ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
        assert "ttc-beam" not in ids and "ttc-majority" in ids
        out = client.post(
            "/v1/chat/completions",
            json={"model": "ttc-beam", "messages": [{"role": "user", "content": Q}]},
        )
        assert out.status_code == 400 and "needs a verifier" in out.json()["error"]["message"]


def test_backend_failure_is_a_502_that_leaks_nothing(caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk-live-abcdef0123456789"
    error = BackendError(f"401 from upstream, key {secret}, cert /etc/ssl/private/key.pem")
    add_secrets([secret])
    failing = ScriptedGenerator(fail_after=0, error=error)
    caplog.set_level(logging.INFO, logger="langgraph_ttc.server")
    with _app(failing) as client:
        out = _ask(client, "ttc-majority-4")
    assert out.status_code == 502 and out.json()["error"]["code"] == "backend_error"
    for text in (out.text, caplog.text):
        assert secret not in text and "/etc/ssl" not in text and "Traceback" not in text
    assert "model backend failed" in caplog.text


class SlowGenerator(ScriptedGenerator):
    """Each async call waits ``delay`` seconds first (without blocking the loop)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        await asyncio.sleep(self.delay)
        return self._generate(requests, "async")


def test_time_cap_answers_with_what_it_has_then_504() -> None:
    with _app(SlowGenerator(0.3)) as client:
        out = _ask(client, "ttc-revise-8", ttc={"timeout": 0.2}).json()
        assert out["ttc"]["status"] == "deadline" and out["usage"]["generations"] < 8
    with _app(SlowGenerator(3.0)) as client:
        late = _ask(client, "ttc-majority-4", ttc={"timeout": 0.05})
        assert late.status_code == 504 and "time limit" in late.json()["error"]["message"]


def test_concurrency_gate() -> None:
    with _app(settings={"max_concurrent": 2}) as client:
        service = client.app.state.service  # type: ignore[attr-defined]
        slots = [service.try_acquire(), service.try_acquire()]
        assert service.try_acquire() is None
        out = _ask(client)
        assert out.status_code == 429 and out.headers["retry-after"] == "1"
        assert out.json()["error"]["type"] == "rate_limit_error"
        slots[0].release()
        slots[0].release()  # idempotent
        assert service.in_flight == 1
        assert _ask(client, "ttc-greedy").status_code == 200
        assert service.in_flight == 1


# --------------------------------------------------------------------------- settings, logs, CLI


def test_redaction() -> None:
    add_secrets(["my-own-secret-key"])
    text = (
        "failed: my-own-secret-key; api_key=abc123 Bearer tok.en sk-proj-AbCdEf123456 "
        "in /home/user/models/policy/config.json or C:\\Users\\me\\m.bin; POST /v1/chat/completions"
    )
    out = redact(text)
    for leak in ("my-own-secret-key", "abc123", "tok.en", "sk-proj", "/home/user", "C:\\Users"):
        assert leak not in out, out
    assert "/v1/chat/completions" in out and "\n" not in redact("a\nb")
    record = logging.LogRecord("x", logging.ERROR, "f", 1, "at %s", ("/srv/app/x.py",), None)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactFilter().filter(record) and record.exc_info is None
    assert record.getMessage() == "at <path>"


def test_settings_and_loopback() -> None:
    with pytest.raises(ValueError, match="default_budget"):
        ServerSettings(default_budget=100, max_budget=64)
    with pytest.raises(ValueError, match="max_concurrent must be > 0"):
        ServerSettings(max_concurrent=0)
    with pytest.raises(TypeError, match="max_budget must be an int"):
        ServerSettings(max_budget=1.5)
    with pytest.raises(ValueError, match="api_key"):
        ServerSettings(api_key="")
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.0.0.2")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.com"])
def test_serve_refuses_beyond_loopback_without_a_key(
    host: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TTC_API_KEY", raising=False)
    assert main(["serve", "--host", host]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "without an API key" in err and "--api-key" in err


def test_readme_integration_snippets_compile() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Integrations", 1)[1].split("\n## ", 1)[0]
    snippets = re.findall(r"```py\n(.*?)```", section, re.S)
    assert len(snippets) == 3  # server client, agent middleware, LangSmith experiments
    for code in snippets:
        compile(code, "README.md", "exec")
