"""The likelihood verifier over an OpenAI-compatible ``/v1/completions`` endpoint.

The endpoint scores the prompt instead of sampling: a legacy completions
request with ``echo=True, logprobs=1, max_tokens=0`` returns, for every
token of the prompt, its text (``choices[0].logprobs.tokens``), its
character offset (``text_offset``) and its log-probability given the tokens
before it (``token_logprobs``, ``null`` for the first). llama.cpp's server
(``llama-cpp-python[server]``) and vLLM answer this way; ``transformers
serve`` does not (it ignores ``echo`` and ``logprobs``), and neither does
OpenAI's hosted API for current models.

The prompt is ``render_prompt(question) + solution``, as for the local
:class:`~langgraph_ttc.verifiers.likelihood.TransformersLikelihoodVerifier`,
and steps get the tokens that overlap them by character. Offsets are read
from the end: the last prompt token ends where the solution ends, so a
server that writes the BOS token as ``""`` (vLLM) or as ``"<s>"`` (llama.cpp)
maps the same way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import os
from typing import Any

import openai
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.models.openai_faults import check_transport, describe, is_retryable, retry_wait
from langgraph_ttc.types import Fold, ScoreResult
from langgraph_ttc.verifiers.base import EMPTY_SOLUTION_SCORE, BaseVerifier
from langgraph_ttc.verifiers.likelihood_common import (
    TokenFold,
    check_step_fold,
    check_template,
    check_token_fold,
    fold_steps,
    render_prompt,
    step_spans,
    steps_from_tokens,
)

__all__ = ["NO_LOGPROBS_HINT", "OpenAILikelihoodVerifier"]

NO_LOGPROBS_HINT = (
    "it must support /v1/completions with echo=True and logprobs "
    "(llama.cpp's server and vLLM do; transformers serve does not)"
)


class OpenAILikelihoodVerifier(BaseVerifier):
    """Scores each step by a served LM's probabilities of its tokens (prompt scoring).

    The same verifier as
    :class:`~langgraph_ttc.verifiers.likelihood.TransformersLikelihoodVerifier`
    (same prompt, steps and ``token_fold``), with the log-probabilities
    computed by the server: one ``/v1/completions`` request per solution
    (llama.cpp rejects a list of prompts), at most ``max_concurrency`` in
    flight. ``max_tokens=0`` asks for no new token; use ``max_tokens=1`` for
    servers that reject 0 (the generated token is not scored).

    The prompt needs the policy's chat template: pass ``tokenizer`` (an object
    or a folder, loaded with transformers on first use), or a ``template``.
    The text is sent as it renders, BOS text included; a server that adds a
    BOS of its own reads two (pass a ``template`` without ``{bos}`` then).

    Faults: timeouts, connection errors, 429, 5xx and malformed bodies are
    retried with exponential backoff and jitter; another 4xx, a body without
    prompt log-probabilities, or exhausted retries raise ``BackendError``.

    Cost: ``tokens`` is the prompt tokens the server read (its ``usage``, else
    the echoed tokens), ``flops = 2 * params * tokens`` (0 without ``params``).

    Args:
        model: The model name the endpoint serves.
        base_url: The endpoint, e.g. ``http://127.0.0.1:8080/v1``; defaults to
            ``OPENAI_BASE_URL`` or OpenAI's.
        api_key: Defaults to ``OPENAI_API_KEY``, else a placeholder (local servers).
        tokenizer: The policy's tokenizer, or its folder: renders the chat template.
        template: The prompt as a format string with ``{question}`` and
            optionally ``{bos}``; ``None`` uses the tokenizer's chat template.
        token_fold: ``min``, ``mean`` (geometric), ``prod`` or ``last``.
        step_fold: ``None`` (default) returns a score per step, folded by the
            plan's ``fold``; ``min``, ``mean``, ``prod`` or ``last`` returns one
            score per solution, folded here over its steps.
        step_delimiter: Where a solution is cut into steps.
        max_tokens: 0 or 1 new tokens per request.
        params: The model's parameter count, for FLOPs, when known.
        max_concurrency: Requests in flight.
        timeout: Seconds before one HTTP attempt times out.
        max_retries: Retries after the first attempt.
        retry_backoff: First backoff in seconds (it doubles, plus up to this much jitter).
        max_backoff: Cap on one backoff, in seconds.
        extra_body: Extra JSON fields sent with every request.
        name: The verifier's name; by default ``likelihood:<model>``.

    Raises:
        TypeError, ValueError: On bad options, naming the option; also when
            neither ``tokenizer`` nor ``template`` is given.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        tokenizer: Any = None,
        template: str | None = None,
        token_fold: TokenFold = "min",
        step_fold: Fold | None = None,
        step_delimiter: str = STEP_DELIMITER,
        max_tokens: int = 0,
        params: int | None = None,
        max_concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        retry_backoff: float = 0.5,
        max_backoff: float = 8.0,
        extra_body: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"model must be a non-empty str, got {model!r}")
        self.token_fold: TokenFold = check_token_fold(token_fold)
        self.step_fold: Fold | None = check_step_fold(step_fold)
        self.template = check_template(template)
        if tokenizer is None and template is None:
            raise ValueError(
                "pass tokenizer= (its chat template renders the question as the policy saw it) "
                "or template="
            )
        if not isinstance(step_delimiter, str) or not step_delimiter:
            raise ValueError(f"step_delimiter must be a non-empty str, got {step_delimiter!r}")
        if max_tokens not in (0, 1) or isinstance(max_tokens, bool):
            raise ValueError(f"max_tokens must be 0 or 1, got {max_tokens!r}")
        # The OpenAI adapter's own checks: the same settings, the same errors.
        check_transport(
            max_concurrency=max_concurrency,
            max_retries=max_retries,
            timeout=timeout,
            retry_backoff=retry_backoff,
            max_backoff=max_backoff,
            params=params,
            extra_body=extra_body,
        )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {type(name).__name__}")
        self.model = model
        self.base_url = (
            base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        ).rstrip("/")
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.step_delimiter = step_delimiter
        self.max_tokens = max_tokens
        self.params = params
        self.max_concurrency = max_concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.retry_backoff = float(retry_backoff)
        self.max_backoff = float(max_backoff)
        self.extra_body = dict(extra_body or {})
        self.name = name or f"likelihood:{model}"
        self._tokenizer_arg = tokenizer
        self._tokenizer: Any = None

    @property
    def endpoint(self) -> str:
        """The URL requests go to."""
        return f"{self.base_url}/completions"

    @property
    def tokenizer(self) -> Any:
        """The tokenizer, loaded on first use, or ``None``."""
        if self._tokenizer is None and self._tokenizer_arg is not None:
            if isinstance(self._tokenizer_arg, str | os.PathLike):
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(os.fspath(self._tokenizer_arg))
            else:
                self._tokenizer = self._tokenizer_arg
        return self._tokenizer

    def prompt(self, question: str) -> str:
        """The text the solution follows; see ``likelihood_common.render_prompt``."""
        if not isinstance(question, str):
            raise TypeError(f"question must be a str, got {type(question).__name__}")
        return render_prompt(self.tokenizer, question, self.template)

    # ----------------------------------------------------------------- scoring

    def _score(self, question: str, solutions: list[str]) -> ScoreResult:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._ascore(question, solutions))
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self._ascore(question, solutions)).result()

    async def _ascore(self, question: str, solutions: list[str]) -> ScoreResult:
        prompt = self.prompt(question)
        out: list[list[float]] = [[EMPTY_SOLUTION_SCORE] for _ in solutions]
        todo = [i for i, sol in enumerate(solutions) if step_spans(sol, self.step_delimiter)]
        if not todo:
            return ScoreResult(steps=out)
        semaphore = asyncio.Semaphore(self.max_concurrency)
        client = openai.AsyncOpenAI(
            api_key=self._api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0
        )
        try:
            results = await asyncio.gather(
                *(self._one(client, semaphore, prompt, solutions[i]) for i in todo)
            )
        finally:
            await client.close()
        tokens = 0
        for i, (scores, read) in zip(todo, results, strict=True):
            out[i] = scores
            tokens += read
        flops = 2.0 * self.params * tokens if self.params else 0.0
        return ScoreResult(steps=fold_steps(out, self.step_fold), tokens=tokens, flops=flops)

    async def _one(
        self, client: openai.AsyncOpenAI, semaphore: asyncio.Semaphore, prompt: str, solution: str
    ) -> tuple[list[float], int]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt + solution,
            "echo": True,
            "logprobs": 1,
            "max_tokens": self.max_tokens,
            "temperature": 0.0,
        }
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=lambda state: retry_wait(state, self.retry_backoff, self.max_backoff),
            retry=retry_if_exception(is_retryable),
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    async with semaphore:
                        raw = await client.completions.with_raw_response.create(**kwargs)
                    return self._parse(raw.text, solution)
        except (BackendError, openai.OpenAIError) as exc:
            status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
            hint = f"; {NO_LOGPROBS_HINT}" if status in (400, 422, 500, 501) else ""
            if is_retryable(exc):
                raise BackendError(
                    f"{self.endpoint} failed after {attempts} attempt(s); "
                    f"last error: {describe(exc)}{hint}",
                    backend=self.name,
                    status=status if isinstance(status, int) else None,
                    retryable=True,
                ) from exc
            if isinstance(exc, BackendError):
                raise
            raise BackendError(
                f"{self.endpoint} rejected the request: {describe(exc)}{hint}",
                backend=self.name,
                status=status if isinstance(status, int) else None,
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _malformed(self, what: str) -> BackendError:
        return BackendError(
            f"{self.endpoint}: malformed response: {what}",
            backend=self.name,
            status=200,
            retryable=True,
        )

    def _parse(self, text: str, solution: str) -> tuple[list[float], int]:
        """Step scores and prompt tokens read, from one response body."""
        try:
            body = json.loads(text)
        except ValueError:
            raise self._malformed(f"the body is not JSON: {text[:200]!r}") from None
        choices = body.get("choices") if isinstance(body, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._malformed(f"no choices in {text[:200]!r}")
        lp = choices[0].get("logprobs")
        toks = lp.get("tokens") if isinstance(lp, dict) else None
        offsets = lp.get("text_offset") if isinstance(lp, dict) else None
        values = lp.get("token_logprobs") if isinstance(lp, dict) else None
        if not (isinstance(toks, list) and isinstance(offsets, list) and isinstance(values, list)):
            raise BackendError(
                f"{self.endpoint}: server returned no prompt logprobs; {NO_LOGPROBS_HINT}",
                backend=self.name,
                status=200,
            )
        usage = body.get("usage")
        counted = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        if isinstance(counted, int) and not isinstance(counted, bool) and counted > 0:
            n = counted
        else:
            n = len(toks) - self.max_tokens
        if not 0 < n <= min(len(toks), len(offsets), len(values)):
            raise BackendError(
                f"{self.endpoint}: server returned logprobs for {len(values)} tokens, not for "
                f"the {n} of the prompt (echo ignored?); {NO_LOGPROBS_HINT}",
                backend=self.name,
                status=200,
            )
        spans: list[tuple[int, int]] = []
        logprobs: list[float | None] = []
        for k in range(n):
            tok, off, val = toks[k], offsets[k], values[k]
            if not isinstance(tok, str) or isinstance(off, bool) or not isinstance(off, int):
                raise self._malformed(f"token {k}: text {tok!r} at offset {off!r}")
            if val is not None and (
                isinstance(val, bool) or not isinstance(val, int | float) or math.isnan(val)
            ):
                raise self._malformed(f"token {k}: logprob {val!r}")
            if spans and off < spans[-1][0]:
                raise self._malformed(f"text_offset goes back at token {k}")
            spans.append((off, off + len(tok)))
            logprobs.append(None if val is None else float(val))
        # The prompt ends with the solution: anchor the steps at the last prompt token's end.
        start = spans[-1][1] - len(solution)
        steps = [(start + s, start + e) for s, e in step_spans(solution, self.step_delimiter)]
        try:
            return steps_from_tokens(spans, logprobs, steps, self.token_fold), n
        except ValueError as exc:
            raise BackendError(
                f"{self.endpoint}: the prompt logprobs do not cover the solution ({exc})",
                backend=self.name,
                status=200,
            ) from None
