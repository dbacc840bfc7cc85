"""OpenAIGenerator against an in-process fake OpenAI-compatible HTTP server.

The real-server tests (``transformers serve`` behind a faulty proxy) are in
``tests/integration/test_openai_server.py``; these cover the protocol corners
fast and offline.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from langgraph_ttc.models import BackendError, OpenAIGenerator, PartialBatchError
from langgraph_ttc.suite.tokenizer import build_tokenizer
from langgraph_ttc.types import GenerationRequest, Generator

_CHAR_TOKENIZER = build_tokenizer()


class FakeOpenAI:
    """A scripted OpenAI-compatible server.

    Faults in ``script`` apply to the next requests, then ``default``:
    ``ok``, ``429``, ``500``, ``503``, ``400``, ``hang``, ``garbage``,
    ``nochoices``, ``nulltext``.
    """

    def __init__(self) -> None:
        self.honor_n = False
        self.usage = True
        self.delay = 0.0
        self.hang_s = 3.0
        self.script: deque[str] = deque()
        self.default = "ok"
        self.texts: dict[str, str] = {}
        self.finish = "length"
        self.logprobs: list[dict[str, Any]] | None = None
        self.completion_logprobs: dict[str, Any] | None = None
        self.adds_bos = False  # count a BOS of its own in /completions prompts
        self.same_text = False  # every choice the same text (a repeated seed)
        self.tokens_each = 7  # usage.completion_tokens per choice
        self.rejects: set[str] = set()  # fields answered with 422, as transformers serve does
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                status, payload, ctype = fake.respond(self.path, body)
                if status == 0:
                    return
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def respond(self, path: str, body: dict[str, Any]) -> tuple[int, bytes, str]:
        with self._lock:
            fault = self.script.popleft() if self.script else self.default
            self.bodies.append(body)
            self.paths.append(path)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            return self._respond(fault, path, body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _respond(self, fault: str, path: str, body: dict[str, Any]) -> tuple[int, bytes, str]:
        js = "application/json"
        unexpected = self.rejects & set(body)
        if unexpected:
            err = {"error": f"Unexpected fields in the request: {sorted(unexpected)}"}
            return 422, json.dumps(err).encode(), js
        if fault in ("429", "500", "503", "400"):
            err = {"error": {"message": f"injected {fault}", "type": "x"}}
            return int(fault), json.dumps(err).encode(), js
        if fault == "hang":
            time.sleep(self.hang_s)
            return 0, b"", js
        if fault == "garbage":
            return 200, b"<html>oops</html>", "text/html"
        if fault == "nochoices":
            return 200, json.dumps({"id": "x", "choices": []}).encode(), js
        n = int(body.get("n", 1)) if self.honor_n else 1
        chat = path.endswith("/chat/completions")
        key = json.dumps(body.get("messages") if chat else body.get("prompt"))
        choices = []
        for i in range(n):
            text = self.texts.get(key, f"s{body.get('seed')}-{i}-{len(self.bodies)}")
            if self.same_text:
                text = self.texts.get(key, "the same sample every time")
            if fault == "nulltext":
                text = None  # type: ignore[assignment]
            choice: dict[str, Any] = {"index": i, "finish_reason": self.finish}
            if chat:
                choice["message"] = {"role": "assistant", "content": text}
                if self.logprobs is not None:
                    choice["logprobs"] = {"content": self.logprobs}
            else:
                choice["text"] = text
                if self.completion_logprobs is not None:
                    choice["logprobs"] = self.completion_logprobs
            choices.append(choice)
        out: dict[str, Any] = {"id": "c", "object": "x", "created": 0, "model": "m"}
        out["choices"] = choices
        if self.usage:
            prompt = 10
            if not chat:  # the bundled tokenizer's count: one token a character
                prompt = len(_CHAR_TOKENIZER.encode(body["prompt"])) + int(self.adds_bos)
            out["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": self.tokens_each * n,
                "total_tokens": 0,
            }
        return 200, json.dumps(out).encode(), js


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    yield server
    server.close()


def _gen(fake: FakeOpenAI, **kw: Any) -> OpenAIGenerator:
    kw.setdefault("retry_backoff", 0.01)
    kw.setdefault("max_backoff", 0.05)
    return OpenAIGenerator("m", base_url=fake.base_url, api_key="k", **kw)


# ---------------------------------------------------------------------- n


def test_server_ignoring_n_is_detected_and_filled(fake: FakeOpenAI) -> None:
    gen = _gen(fake)
    assert isinstance(gen, Generator)
    (out,) = gen.generate([GenerationRequest("q", n=4, seed=10)])
    assert len(out) == 4
    assert gen.supports_n is False
    assert fake.bodies[0]["n"] == 4
    assert all("n" not in b for b in fake.bodies[1:])
    assert sorted(b["seed"] for b in fake.bodies) == [10, 11, 12, 13]
    assert len({c.text for c in out}) == 4
    fake.bodies.clear()
    (out,) = gen.generate([GenerationRequest("q", n=3)])
    assert len(out) == 3 and len(fake.bodies) == 3
    assert all("n" not in b and "seed" not in b for b in fake.bodies)


def test_server_honouring_n_takes_one_request(fake: FakeOpenAI) -> None:
    fake.honor_n = True
    gen = _gen(fake)
    (out,) = gen.generate([GenerationRequest("q", n=5, seed=1)])
    assert len(out) == 5 and len(fake.bodies) == 1
    assert gen.supports_n is True
    # The billed counts are spread over the choices and add up.
    assert sum(c.prompt_tokens for c in out) == 10
    assert sum(c.completion_tokens for c in out) == 35


def test_short_answer_is_filled_even_when_n_is_claimed(fake: FakeOpenAI) -> None:
    gen = _gen(fake, supports_n=True)
    (out,) = gen.generate([GenerationRequest("q", n=3)])
    assert len(out) == 3 and len(fake.bodies) == 3
    assert gen.supports_n is True


def test_supports_n_false_never_sends_n(fake: FakeOpenAI) -> None:
    gen = _gen(fake, supports_n=False)
    out = gen.generate([GenerationRequest("a", n=2), GenerationRequest("b", n=3)])
    assert [len(p) for p in out] == [2, 3]
    assert len(fake.bodies) == 5 and all("n" not in b for b in fake.bodies)


def test_requests_keep_their_order(fake: FakeOpenAI) -> None:
    fake.honor_n = True
    for q in "abcd":
        fake.texts[json.dumps([{"role": "user", "content": q}])] = f"answer {q}"
    out = _gen(fake).generate([GenerationRequest(q, n=i + 1) for i, q in enumerate("abcd")])
    assert [[c.text for c in per] for per in out] == [
        [f"answer {q}"] * (i + 1) for i, q in enumerate("abcd")
    ]


def test_concurrency_is_bounded(fake: FakeOpenAI) -> None:
    fake.delay = 0.05
    gen = _gen(fake, supports_n=False, max_concurrency=2)
    (out,) = gen.generate([GenerationRequest("q", n=8)])
    assert len(out) == 8
    assert fake.max_in_flight == 2


# ---------------------------------------------------------------------- texts and counts


def test_text_cut_at_first_stop(fake: FakeOpenAI) -> None:
    fake.texts[json.dumps([{"role": "user", "content": "q"}])] = "12+3=15\n15*2=30\n"
    (out,) = _gen(fake).generate([GenerationRequest("q", stop=("\n", "####"))])
    assert out[0].text == "12+3=15"
    assert out[0].finish_reason == "stop"
    assert fake.bodies[0]["stop"] == ["\n", "####"]
    # Billed tokens are reported, not the cut text's: the server spent them.
    assert out[0].completion_tokens == 7


def test_empty_text_is_legal(fake: FakeOpenAI) -> None:
    fake.texts[json.dumps([{"role": "user", "content": "q"}])] = ""
    fake.finish = "stop"
    (out,) = _gen(fake).generate([GenerationRequest("q")])
    assert out[0].text == "" and out[0].finish_reason == "stop"


def test_counts_without_usage(fake: FakeOpenAI) -> None:
    fake.usage = False
    fake.finish = "stop"
    fake.texts[json.dumps([{"role": "user", "content": "1+2"}])] = "1+2=3"
    tok = build_tokenizer()
    (out,) = _gen(fake, tokenizer=tok).generate([GenerationRequest("1+2")])
    assert out[0].prompt_tokens == len("<s>1+2\n") - 2  # rendered with the template
    assert out[0].completion_tokens == 5 + 1  # text plus the stop/EOS token
    (est,) = _gen(fake).generate([GenerationRequest("1+2")])
    assert est[0].completion_tokens == 2 + 1  # estimated: 4 chars a token


def test_sampling_fields_are_sent(fake: FakeOpenAI) -> None:
    _gen(fake, extra_body={"top_k": 5}).generate(
        [GenerationRequest("q", max_tokens=33, temperature=0.0, top_p=0.9, seed=4)]
    )
    body = fake.bodies[0]
    assert body["max_tokens"] == 33 and body["temperature"] == 0.0 and body["top_p"] == 0.9
    assert body["seed"] == 4 and body["top_k"] == 5 and body["model"] == "m"


def test_chat_prefix_uses_continue_final_message(fake: FakeOpenAI) -> None:
    _gen(fake).generate([GenerationRequest("q", prefix="1+2=3\n")])
    body = fake.bodies[0]
    assert body["messages"][-1] == {"role": "assistant", "content": "1+2=3\n"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


def test_completions_mode_renders_chat_prompts(fake: FakeOpenAI) -> None:
    msgs = [{"role": "user", "content": "1+2"}]
    with pytest.raises(ValueError, match="tokenizer"):
        _gen(fake, mode="completions").generate([GenerationRequest(msgs)])
    gen = _gen(fake, mode="completions", tokenizer=build_tokenizer())
    (out,) = gen.generate([GenerationRequest(msgs, prefix="1+2=3\n", n=2)])
    assert len(out) == 2
    assert fake.paths[0] == "/v1/completions"
    # bodies[0] is the BOS probe: this server adds no BOS, so the template's stays
    assert fake.bodies[0]["max_tokens"] == 1 and gen.server_adds_bos is False
    assert fake.bodies[1]["prompt"] == "<s>1+2\n1+2=3\n"
    gen.generate([GenerationRequest("raw text")])
    assert fake.bodies[-1]["prompt"] == "raw text"


def test_logprobs_are_read_and_trimmed(fake: FakeOpenAI) -> None:
    fake.texts[json.dumps([{"role": "user", "content": "q"}])] = "ab\ncd"
    fake.logprobs = [
        {"token": t, "logprob": -0.1 * (k + 1)} for k, t in enumerate(["a", "b", "\n", "c", "d"])
    ]
    (out,) = _gen(fake, logprobs=True).generate([GenerationRequest("q", stop=("\n",))])
    assert fake.bodies[0]["logprobs"] is True
    assert out[0].text == "ab"
    assert out[0].logprobs == pytest.approx((-0.1, -0.2, -0.3))
    (plain,) = _gen(fake).generate([GenerationRequest("q")])
    assert plain[0].logprobs is None and "logprobs" not in fake.bodies[-1]


async def test_async_and_sync_inside_a_running_loop(fake: FakeOpenAI) -> None:
    gen = _gen(fake)
    a = await gen.agenerate([GenerationRequest("q", n=2)])
    b = gen.generate([GenerationRequest("q", n=2)])  # sync call from async code
    assert len(a[0]) == len(b[0]) == 2
    await gen.aclose()


# ---------------------------------------------------------------------- faults


def test_transient_faults_are_retried(fake: FakeOpenAI) -> None:
    fake.script.extend(["429", "500", "garbage", "nochoices", "nulltext", "hang"])
    fake.hang_s = 1.0
    gen = _gen(fake, timeout=0.3, max_retries=6)
    (out,) = gen.generate([GenerationRequest("q")])
    assert len(out) == 1
    assert len(fake.bodies) == 7


def test_client_error_is_not_retried(fake: FakeOpenAI) -> None:
    fake.default = "400"
    with pytest.raises(BackendError) as info:
        _gen(fake).generate([GenerationRequest("q")])
    assert info.value.status == 400 and not info.value.retryable
    assert "injected 400" in str(info.value) and fake.base_url in str(info.value)
    assert len(fake.bodies) == 1


def test_chat_prefix_rejection_hints_at_completions_mode(fake: FakeOpenAI) -> None:
    fake.default = "400"
    with pytest.raises(BackendError, match="mode='completions'"):
        _gen(fake).generate([GenerationRequest("q", prefix="x")])


@pytest.mark.parametrize(
    ("fault", "status", "words"),
    [
        ("503", 503, "HTTP 503"),
        ("429", 429, "HTTP 429"),
        ("garbage", 200, "not JSON"),
        ("nochoices", 200, "no choices"),
        ("nulltext", 200, "no text"),
    ],
)
def test_permanent_faults_raise_backend_error(
    fake: FakeOpenAI, fault: str, status: int, words: str
) -> None:
    fake.default = fault
    gen = _gen(fake, max_retries=2)
    with pytest.raises(BackendError) as info:
        gen.generate([GenerationRequest("q")])
    err = info.value
    assert err.status == status and err.retryable
    assert words in str(err) and "after 3 attempt(s)" in str(err)
    assert f"{fake.base_url}/chat/completions" in str(err)
    assert err.backend == "openai:m"
    assert len(fake.bodies) == 3


def test_connection_refused_raises_backend_error() -> None:
    gen = OpenAIGenerator("m", base_url="http://127.0.0.1:9/v1", max_retries=1, retry_backoff=0.01)
    with pytest.raises(BackendError, match="connection error"):
        gen.generate([GenerationRequest("q")])


def test_one_failing_request_keeps_what_came_back(fake: FakeOpenAI) -> None:
    fake.script.extend(["ok", "400"])
    gen = _gen(fake, max_concurrency=1)
    with pytest.raises(PartialBatchError) as info:
        gen.generate([GenerationRequest("a"), GenerationRequest("b")])
    err = info.value
    assert isinstance(err, BackendError) and err.status == 400 and not err.retryable
    assert [len(per) for per in err.completions] == [1, 0]
    assert err.failed == 1 and err.received == 1
    assert "1 of 2 samples failed for good" in str(err) and "HTTP 400" in str(err)


def test_fanned_out_samples_that_fail_for_good_are_reported_per_request(
    fake: FakeOpenAI,
) -> None:
    # 2 requests x 3 samples, no retries: 2 of the 6 attempts fail, whichever samples they are.
    fake.script.extend(["ok", "500", "ok", "ok", "429", "ok"])
    gen = _gen(fake, supports_n=False, max_concurrency=2, max_retries=0)
    with pytest.raises(PartialBatchError) as info:
        gen.generate([GenerationRequest("a", n=3), GenerationRequest("b", n=3)])
    err = info.value
    assert err.received == 4 and err.failed == 2 and err.retryable
    assert len(err.completions) == 2 and all(len(per) <= 3 for per in err.completions)
    assert all(c.completion_tokens == 7 for per in err.completions for c in per)
    assert len(fake.bodies) == 6


async def test_async_partial_batch(fake: FakeOpenAI) -> None:
    fake.script.extend(["ok", "400"])
    gen = _gen(fake, supports_n=False, max_concurrency=1)
    with pytest.raises(PartialBatchError) as info:
        await gen.agenerate([GenerationRequest("a", n=2)])
    assert [len(per) for per in info.value.completions] == [1]
    await gen.aclose()


def test_every_sample_failing_is_a_plain_backend_error(fake: FakeOpenAI) -> None:
    fake.default = "400"
    with pytest.raises(BackendError) as info:
        _gen(fake, supports_n=False).generate([GenerationRequest("a", n=3)])
    assert not isinstance(info.value, PartialBatchError) and info.value.status == 400


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "legacy"}, ValueError, "mode"),
        ({"max_concurrency": 0}, ValueError, "max_concurrency"),
        ({"max_retries": -1}, ValueError, "max_retries"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"params": 0}, ValueError, "params"),
        ({"extra_body": []}, TypeError, "extra_body"),
        ({"supports_n": "yes"}, TypeError, "supports_n"),
        ({"server_adds_bos": "yes"}, TypeError, "server_adds_bos"),
        ({"top_k": 1.5}, TypeError, "top_k"),
        ({"min_p": -0.1}, ValueError, "min_p"),
    ],
)
def test_bad_constructor_arguments(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        OpenAIGenerator("m", base_url="http://127.0.0.1:9/v1", **kwargs)
    with pytest.raises(ValueError, match="model"):
        OpenAIGenerator("")


def test_bad_requests_fail_before_any_call(fake: FakeOpenAI) -> None:
    gen = _gen(fake)
    with pytest.raises(TypeError, match="sequence"):
        gen.generate(GenerationRequest("q"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="top_p"):
        gen.generate([GenerationRequest("q", top_p=2.0)])
    assert fake.bodies == []
