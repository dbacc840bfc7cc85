"""The bundled policy served by llama.cpp (llama-cpp-python), as a new user would serve it.

The bundled folder is converted with llama.cpp's own ``convert_hf_to_gguf.py``
(unchanged: the tokenizer ships in the form it reads) and served with
``python -m llama_cpp.server``. Then, through ``OpenAIGenerator``:

- greedy in completions mode and in chat mode equals transformers' greedy
  on at least 19 of 20 test questions (the issue measured 0.017 accuracy with a
  double BOS, and different answers under the server's own sampling defaults);
- a model whose GGUF adds a BOS of its own (as Llama-2-style models do) gets
  the template's BOS left out, found by the adapter's probe;
- beam search from ``ttc solve --endpoint-mode completions`` answers, and in
  chat mode it fails with an error that says to use completions mode
  (llama-cpp-python ignores ``continue_final_message``).

Needs ``llama-cpp-python[server]`` (built from source: minutes) and
``LLAMA_CPP_CONVERT`` naming ``convert_hf_to_gguf.py`` of a llama.cpp checkout
(with its ``gguf-py`` beside it, and ``sentencepiece`` installed); skipped
otherwise. ``make llamacpp-test`` sets all of it up.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from _servers import ServeProcess, free_port

from langgraph_ttc import cli
from langgraph_ttc.models import OpenAIGenerator, TransformersGenerator
from langgraph_ttc.suite.task import load_split
from langgraph_ttc.types import GenerationRequest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (make llamacpp-test)")
pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server]")

pytestmark = pytest.mark.integration

MODELS = Path(__file__).resolve().parents[2] / "langgraph_ttc" / "suite" / "models"
POLICY = MODELS / "policy-small"
PRM = MODELS / "prm"
CONVERT = os.environ.get("LLAMA_CPP_CONVERT", "")
QUESTIONS = [p.question for p in load_split("test", 20, seed=0)]
MAX_TOKENS = 160


def _convert(folder: Path, out: Path) -> Path:
    if not CONVERT or not Path(CONVERT).is_file():
        pytest.skip("set LLAMA_CPP_CONVERT to llama.cpp's convert_hf_to_gguf.py")
    done = subprocess.run(
        [sys.executable, CONVERT, str(folder), "--outfile", str(out), "--outtype", "f32"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@contextlib.contextmanager
def _llama_server(gguf: Path, workdir: Path) -> Iterator[ServeProcess]:
    """``python -m llama_cpp.server`` on ``gguf``; always killed."""
    port = free_port()
    log_path = workdir / f"{gguf.stem}.log"
    args = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
    args += ["--model_alias", "policy", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--n_ctx", "1024", "--n_threads", "1", "--n_threads_batch", "1", "--verbose", "false"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True
        )
    server = ServeProcess(proc, port, log_path)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited:\n{server.log_tail()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{server.base_url}/models", timeout=2) as r,
            ):
                if r.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server not ready:\n{server.log_tail()}")
            time.sleep(0.3)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("llamacpp")


@pytest.fixture(scope="module")
def server(workdir: Path) -> Iterator[ServeProcess]:
    """The bundled policy, converted unchanged, served by llama-cpp-python."""
    gguf = _convert(POLICY, workdir / "policy.gguf")
    with _llama_server(gguf, workdir) as srv:
        yield srv


@pytest.fixture(scope="module")
def bos_server(workdir: Path) -> Iterator[ServeProcess]:
    """The same model in a GGUF that adds its own BOS (``add_bos_token: true``)."""
    folder = workdir / "policy-adds-bos"
    shutil.copytree(POLICY, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "add_bos_token": True}))
    gguf = _convert(folder, workdir / "policy-adds-bos.gguf")
    with _llama_server(gguf, workdir) as srv:
        yield srv


@pytest.fixture(scope="module")
def reference() -> list[str]:
    """transformers' greedy answers to the test questions."""
    gen = TransformersGenerator(str(POLICY), device="cpu")
    return [per[0].text for per in gen.generate(_requests())]


def _requests() -> list[GenerationRequest]:
    return [
        GenerationRequest(
            [{"role": "user", "content": q}], max_tokens=MAX_TOKENS, temperature=0.0, seed=0
        )
        for q in QUESTIONS
    ]


def _adapter(server: ServeProcess, mode: str, **kw: object) -> OpenAIGenerator:
    return OpenAIGenerator(
        "policy",
        base_url=server.base_url,
        api_key="none",
        mode=mode,  # type: ignore[arg-type]
        tokenizer=str(POLICY),
        max_concurrency=2,
        timeout=120,
        **kw,  # type: ignore[arg-type]
    )


def _agreement(got: list[list[str]] | list[str], want: list[str]) -> int:
    texts = [g if isinstance(g, str) else g[0] for g in got]
    return sum(a == b for a, b in zip(texts, want, strict=True))


def _texts(gen: OpenAIGenerator) -> list[str]:
    return [per[0].text for per in gen.generate(_requests())]


@pytest.mark.parametrize("mode", ["completions", "chat"])
def test_greedy_equals_transformers(server: ServeProcess, reference: list[str], mode: str) -> None:
    gen = _adapter(server, mode)
    same = _agreement(_texts(gen), reference)
    print(f"llama.cpp {mode} greedy == transformers greedy on {same}/20")
    assert same >= 19
    if mode == "completions":
        assert gen.server_adds_bos is False  # the shipped GGUF adds none: <s> is sent


def test_a_server_that_adds_a_bos_gets_none_from_the_template(
    bos_server: ServeProcess, reference: list[str]
) -> None:
    gen = _adapter(bos_server, "completions")
    same = _agreement(_texts(gen), reference)
    print(f"BOS-adding GGUF, completions greedy == transformers on {same}/20")
    assert gen.server_adds_bos is True and same >= 19
    doubled = _agreement(
        _texts(_adapter(bos_server, "completions", server_adds_bos=False)), reference
    )
    print(f"... with the template's BOS sent anyway (double BOS): {doubled}/20")
    assert doubled < same


def test_server_sampling_defaults_change_greedy(server: ServeProcess, reference: list[str]) -> None:
    """llama-cpp-python's repeat_penalty 1.1 changes greedy: why the neutral fields are sent."""
    same = _agreement(_texts(_adapter(server, "completions", neutral_sampling=False)), reference)
    print(f"with the server's sampling defaults: {same}/20")
    assert same < 19


def test_beam_search_through_completions_mode(
    server: ServeProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        [
            "solve",
            QUESTIONS[0],
            "--endpoint",
            server.base_url,
            "--endpoint-model",
            "policy",
            "--endpoint-mode",
            "completions",
            "--endpoint-tokenizer",
            str(POLICY),
            "--endpoint-params",
            "900000",
            "--verifier",
            str(PRM),
            "--device",
            "cpu",
            "--strategy",
            "beam",
            "--budget",
            "8",
            "--json",
            "--no-progress",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    print("beam search through llama.cpp:", result["answer"], result["status"], result["usage"])
    assert code == 0 and result["answer"] is not None
    assert result["status"] == "done" and result["error"] is None
    assert result["usage"]["flops"] > 0


def test_chat_mode_beam_search_fails_saying_to_use_completions(
    server: ServeProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """llama-cpp-python ignores continue_final_message and answers empty: not a silent end."""
    code = cli.main(
        [
            "solve",
            QUESTIONS[0],
            "--endpoint",
            server.base_url,
            "--endpoint-model",
            "policy",
            "--verifier",
            str(PRM),
            "--device",
            "cpu",
            "--strategy",
            "beam",
            "--budget",
            "8",
            "--json",
            "--no-progress",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and result["status"] == "backend_error"
    assert "continue_final_message" in result["error"]
    assert "--endpoint-mode completions" in result["error"]


@pytest.mark.parametrize("mode", ["completions", "chat"])
def test_top_logprobs_from_llama_cpp(server: ServeProcess, mode: str) -> None:
    gen = _adapter(server, mode)
    msgs = [{"role": "user", "content": QUESTIONS[1]}]
    (out,) = gen.generate(
        [GenerationRequest(msgs, max_tokens=12, temperature=0.0, logprobs=True, top_logprobs=3)]
    )
    c = out[0]
    assert c.logprobs is not None and c.top_logprobs is not None
    assert len(c.top_logprobs) == len(c.logprobs) > 0
    for chosen, alts in zip(c.logprobs, c.top_logprobs, strict=True):
        assert 1 <= len(alts) <= 3
        # greedy: the chosen token is the most likely one
        assert max(alts.values()) == pytest.approx(chosen, abs=1e-4)
