"""A published PRM served by vLLM, scored through its pooling API (``POST /pooling``).

The request is vLLM's ``PoolingCompletionRequest``
(``vllm/entrypoints/pooling/pooling/protocol.py``): the token ids of every
solution in one ``input`` list (built locally by the format's encoder, so the
server reads exactly the ids the local verifier reads), ``task:
"token_classify"`` (vLLM's pooling task for process reward models) and
``add_special_tokens: false``. The response is a ``PoolingResponse``:
``data[i].data`` is, for input ``i``, a list of rows, one per token the
pooler kept, and ``usage.prompt_tokens`` counts what the server read.

With ``--pooler-config '{"pooling_type": "STEP", "step_tag_id": T, ...}'`` the
server keeps one row per token ``T`` (one per step); without ``step_tag_id``
it keeps one per token of the input. Both are read: a row count equal to the
steps is taken as is, equal to the input length is read at the format's
score positions, anything else is an error that names both counts.
``vllm_pooler_config`` gives the flags for each format.

``api="embeddings"`` speaks ``POST /v1/embeddings`` instead (the same ids;
``data[i].embedding`` holds the rows): the route Skywork's own vLLM plugin
(written for vLLM 0.6.4, before ``/pooling``) is queried through in their README.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
from collections.abc import Sequence
from typing import Any, Literal

import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.models.openai_faults import (
    check_transport,
    describe,
    gave_up,
    is_retryable,
    retry_wait,
)
from langgraph_ttc.types import Fold, ScoreResult
from langgraph_ttc.verifiers.base import EMPTY_SOLUTION_SCORE, BaseVerifier, split_steps
from langgraph_ttc.verifiers.prm import PRMEncoding
from langgraph_ttc.verifiers.prm_formats.registry import format_encoder, get_prm_format

__all__ = ["VLLMPRM"]

logger = logging.getLogger(__name__)


class VLLMPRM(BaseVerifier):
    """A PRM of a known format served by vLLM; the same step scores as ``load_prm``'s.

    One ``POST /pooling`` per call carries every solution (``batch_size``
    splits it), at most ``max_concurrency`` requests in flight. The token ids
    are made here with the PRM's tokenizer, as the local verifier makes them.

    Faults: as ``OpenAIGenerator``: timeouts, connection errors, 429, 5xx and
    malformed bodies are retried with exponential backoff and jitter (a
    ``Retry-After`` is honoured up to 30 s); another 4xx or exhausted retries
    raise ``BackendError``. A reply with the wrong number of inputs or rows is
    a ``BackendError`` that says so (not retried: the server's pooler config
    does not match the format).

    Cost: ``tokens`` is the server's ``usage.prompt_tokens`` (else the ids
    sent), ``flops = 2 * params * tokens`` (0 without ``params``).

    Args:
        model: The model name the server serves.
        format: The PRM's format (``"math-shepherd"``, ``"rlhflow"``,
            ``"qwen-prm"``, ``"skywork"`` or a registered one with a remote recipe).
        tokenizer: The PRM's tokenizer, or its folder (loaded on first use).
        base_url: The server, e.g. ``http://127.0.0.1:8000`` (a trailing
            ``/v1`` is dropped: vLLM serves ``/pooling`` at the root).
        api_key: Defaults to ``OPENAI_API_KEY``, else a placeholder.
        step_delimiter: Where solutions are cut into steps.
        task: The pooling task sent; ``None`` sends none (older servers).
        api: ``"pooling"`` (``POST /pooling``) or ``"embeddings"`` (``POST
            /v1/embeddings``, for servers older than the pooling API).
        params: The PRM's parameter count, for FLOPs.
        batch_size: Solutions per request; ``None`` sends a call in one.
        max_concurrency: Requests in flight.
        timeout: Seconds before one HTTP attempt times out.
        max_retries: Retries after the first attempt.
        retry_backoff: First backoff in seconds (doubles, plus up to this much jitter).
        max_backoff: Cap on one backoff, in seconds.
        extra_body: Extra JSON fields sent with every request.
        name: The verifier's name; by default ``prm:<format>:<model>``.

    Raises:
        TypeError, ValueError: On bad options, naming the option; an unknown
            format lists the supported ones.
    """

    fold: Fold = "last"

    def __init__(
        self,
        model: str,
        *,
        format: str,
        tokenizer: Any,
        base_url: str | None = None,
        api_key: str | None = None,
        step_delimiter: str = "\n",
        task: str | None = "token_classify",
        api: Literal["pooling", "embeddings"] = "pooling",
        params: int | None = None,
        batch_size: int | None = None,
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
        fmt = get_prm_format(format)
        if fmt.encoder is None or fmt.read_row is None:
            raise ValueError(f"PRM format {format!r} has no remote recipe (encoder and read_row)")
        if tokenizer is None:
            raise ValueError(
                "tokenizer is required: the ids are made here, as the local PRM makes them"
            )
        if not isinstance(step_delimiter, str) or not step_delimiter:
            raise ValueError(f"step_delimiter must be a non-empty str, got {step_delimiter!r}")
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
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if api not in ("pooling", "embeddings"):
            raise ValueError(f"api must be 'pooling' or 'embeddings', got {api!r}")
        self.api = api
        self.model = model
        self.format = fmt
        base = (base_url or os.environ.get("OPENAI_BASE_URL") or "http://127.0.0.1:8000").rstrip(
            "/"
        )
        self.base_url = base.removesuffix("/v1")
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.step_delimiter = step_delimiter
        self.task = task
        self.params = params
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.retry_backoff = float(retry_backoff)
        self.max_backoff = float(max_backoff)
        self.extra_body = dict(extra_body or {})
        self.name = name or f"prm:{fmt.name}:{model}"
        self._tokenizer_arg = tokenizer
        self._encoder: Any = None

    @property
    def endpoint(self) -> str:
        """The URL requests go to."""
        return f"{self.base_url}{self._path}"

    @property
    def _path(self) -> str:
        return "/pooling" if self.api == "pooling" else "/v1/embeddings"

    @property
    def encoder(self) -> Any:
        """The format's encoder (loads the tokenizer on first use)."""
        if self._encoder is None:
            self._encoder = format_encoder(
                self.format.name, self._tokenizer_arg, self.step_delimiter
            )
        return self._encoder

    def encode(self, question: str, solution: str) -> PRMEncoding:
        """The ids sent for one solution, and its score positions."""
        return self.encoder.encode(question, split_steps(solution, self.step_delimiter))

    # ----------------------------------------------------------------- scoring

    def _score(self, question: str, solutions: list[str]) -> ScoreResult:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._ascore(question, solutions))
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self._ascore(question, solutions)).result()

    async def _ascore(self, question: str, solutions: list[str]) -> ScoreResult:
        if self._encoder is None:  # loading a tokenizer reads files: not on the event loop
            await asyncio.to_thread(lambda: self.encoder)
        out: list[list[float]] = [[EMPTY_SOLUTION_SCORE] for _ in solutions]
        todo = [i for i, s in enumerate(solutions) if split_steps(s, self.step_delimiter)]
        if not todo:
            return ScoreResult(steps=out)
        encodings = {i: self.encode(question, solutions[i]) for i in todo}
        size = self.batch_size or len(todo)
        chunks = [todo[k : k + size] for k in range(0, len(todo), size)]
        semaphore = asyncio.Semaphore(self.max_concurrency)
        client = openai.AsyncOpenAI(
            api_key=self._api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0
        )
        try:
            results = await asyncio.gather(
                *(self._request(client, semaphore, [encodings[i] for i in c]) for c in chunks)
            )
        finally:
            await client.close()
        tokens = 0
        for chunk, (scores, read) in zip(chunks, results, strict=True):
            for i, row in zip(chunk, scores, strict=True):
                out[i] = row
            tokens += read
        flops = 2.0 * self.params * tokens if self.params else 0.0
        return ScoreResult(steps=out, tokens=tokens, flops=flops)

    def _payload(self, batch: Sequence[PRMEncoding]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "input": [list(e.input_ids) for e in batch],
            "add_special_tokens": False,
        }
        if self.task is not None and self.api == "pooling":
            body["task"] = self.task
        body.update(self.extra_body)
        return body

    def _wait(self, state: RetryCallState) -> float:
        return retry_wait(state, self.retry_backoff, self.max_backoff)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.warning(
            "%s: attempt %d failed (%s); retrying",
            self.endpoint,
            state.attempt_number,
            describe(exc),
        )

    async def _request(
        self, client: openai.AsyncOpenAI, semaphore: asyncio.Semaphore, batch: list[PRMEncoding]
    ) -> tuple[list[list[float]], int]:
        import httpx

        payload = self._payload(batch)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(is_retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    async with semaphore:
                        raw = await client.post(self._path, body=payload, cast_to=httpx.Response)
                    return self._parse(raw.text, batch)
        except (BackendError, openai.OpenAIError) as exc:
            if is_retryable(exc):
                raise gave_up(exc, attempts, endpoint=self.endpoint, backend=self.name) from exc
            if isinstance(exc, BackendError):
                raise
            raise BackendError(
                f"{self.endpoint} rejected the request: {describe(exc)}",
                backend=self.name,
                status=getattr(exc, "status_code", None),
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _bad(self, what: str, *, retryable: bool = False) -> BackendError:
        return BackendError(
            f"{self.endpoint}: {what}", backend=self.name, status=200, retryable=retryable
        )

    def _parse(self, text: str, batch: list[PRMEncoding]) -> tuple[list[list[float]], int]:
        try:
            body = json.loads(text)
        except ValueError:
            raise self._bad(
                f"malformed response: the body is not JSON: {text[:200]!r}", retryable=True
            ) from None
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(isinstance(d, dict) for d in items):
            raise self._bad(f"malformed response: no data list in {text[:200]!r}", retryable=True)
        if len(items) != len(batch):
            raise self._bad(f"the server returned {len(items)} results for {len(batch)} inputs")
        items = sorted(items, key=lambda d: d.get("index", 0))
        scores = [
            self._rows(k, d.get("data" if self.api == "pooling" else "embedding"), enc)
            for k, (d, enc) in enumerate(zip(items, batch, strict=True))
        ]
        usage = body.get("usage")
        counted = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        if isinstance(counted, int) and not isinstance(counted, bool) and counted > 0:
            return scores, counted
        return scores, sum(len(e.input_ids) for e in batch)

    def _rows(self, k: int, data: Any, enc: PRMEncoding) -> list[float]:
        if not isinstance(data, list):
            raise self._bad(
                f"malformed response: input {k} has no rows ({data!r:.100})", retryable=True
            )
        rows = [r if isinstance(r, list) else [r] for r in data]
        steps, length = len(enc.tag_positions), len(enc.input_ids)
        if len(rows) == length:
            rows = [rows[p] for p in enc.tag_positions]
        elif len(rows) != steps:
            raise self._bad(
                f"input {k}: the server returned {len(rows)} rows, but the input has {steps} "
                f"steps and {length} tokens; check --pooler-config against the "
                f"{self.format.name!r} format (see vllm_pooler_config)"
            )
        assert self.format.read_row is not None
        out: list[float] = []
        for row in rows:
            if not row or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in row
            ):
                raise self._bad(
                    f"malformed response: input {k} has a row {row!r:.100}", retryable=True
                )
            try:
                out.append(self.format.read_row([float(v) for v in row]))
            except IndexError:
                raise self._bad(
                    f"input {k}: a row has {len(row)} values, too few for the "
                    f"{self.format.name!r} format (check returned_token_ids)"
                ) from None
        return out
