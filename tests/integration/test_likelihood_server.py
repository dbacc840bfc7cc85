"""OpenAILikelihoodVerifier against real servers.

- ``transformers serve`` (always, when ``transformers[serving]`` is installed):
  its ``/v1/completions`` ignores ``echo`` and ``logprobs``, so the verifier
  must fail with a ``BackendError`` that says what the server lacks.
- llama.cpp (``llama-cpp-python[server]``): skipped unless ``llama_cpp`` is
  importable and ``LANGGRAPH_TTC_GGUF`` names a GGUF conversion of the
  bundled ``policy-large`` (see ``shared/reference/toolchain-notes.md`` for the
  conversion; F32 keeps the comparison tight). The step scores must match
  the local verifier's within 1e-3.
- Any other server already running (vLLM on a GPU, say): skipped unless
  ``LANGGRAPH_TTC_LIKELIHOOD_URL`` (its ``/v1`` base URL) is set; it must
  serve ``policy-large`` under the name ``LANGGRAPH_TTC_LIKELIHOOD_MODEL``
  (default: the folder path).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from _servers import ServeProcess, free_port

from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.suite import task
from langgraph_ttc.suite.modeling import bundled_model_path
from langgraph_ttc.verifiers import OpenAILikelihoodVerifier, TransformersLikelihoodVerifier

pytestmark = pytest.mark.integration

QUESTION = "7*3+12-5"
SOLUTIONS = [
    task.reference_solution(QUESTION),
    "7*3=22\n22+12=34\n34-5=29\n#### 29",
    "",
    "7*3=21\n\n21+12=33\n#### 33\n",
]


@pytest.mark.parametrize("max_tokens", [0, 1])
def test_transformers_serve_has_no_prompt_logprobs(
    serve: ServeProcess, tiny_model_dir: Path, max_tokens: int
) -> None:
    remote = OpenAILikelihoodVerifier(
        str(tiny_model_dir),
        base_url=serve.base_url,
        tokenizer=tiny_model_dir,
        max_tokens=max_tokens,
        max_retries=0,
        timeout=60.0,
    )
    with pytest.raises(BackendError, match=r"echo=True and logprobs") as err:
        remote.score(QUESTION, SOLUTIONS[:1])
    assert err.value.backend == remote.name


def _compare(remote: OpenAILikelihoodVerifier) -> None:
    local = TransformersLikelihoodVerifier(bundled_model_path("policy-large"), dtype="float32")
    want = local.score(QUESTION, SOLUTIONS)
    got = remote.score(QUESTION, SOLUTIONS)
    for a, b in zip(got.steps, want.steps, strict=True):
        assert a == pytest.approx(b, abs=1e-3)


@contextlib.contextmanager
def _llama_cpp_server(gguf: str, workdir: Path) -> Iterator[str]:
    port = free_port()
    log = (workdir / "llama.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited ({proc.returncode})")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("llama_cpp.server not ready in 120 s") from None
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_llama_cpp_matches_local(tmp_path: Path) -> None:
    gguf = os.environ.get("LANGGRAPH_TTC_GGUF")
    if importlib.util.find_spec("llama_cpp") is None or not gguf:
        pytest.skip("needs llama-cpp-python[server] and LANGGRAPH_TTC_GGUF (policy-large as GGUF)")
    with _llama_cpp_server(gguf, tmp_path) as base_url:
        # llama.cpp adds the BOS token itself: send the chat template's text without it.
        _compare(OpenAILikelihoodVerifier("m", base_url=base_url, template="{question}\n"))


def test_running_server_matches_local() -> None:
    base_url = os.environ.get("LANGGRAPH_TTC_LIKELIHOOD_URL")
    if not base_url:
        pytest.skip("set LANGGRAPH_TTC_LIKELIHOOD_URL to a server of policy-large (e.g. vLLM)")
    path = bundled_model_path("policy-large")
    model = os.environ.get("LANGGRAPH_TTC_LIKELIHOOD_MODEL", str(path))
    _compare(OpenAILikelihoodVerifier(model, base_url=base_url, tokenizer=path))
