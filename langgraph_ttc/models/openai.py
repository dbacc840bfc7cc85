"""A generator for any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, transformers serve)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from langgraph_ttc.models.base import (
    as_messages,
    check_result_shape,
    cut_at_stop,
    estimate_tokens,
    run_sync,
    split_total,
    validate_requests,
)
from langgraph_ttc.models.errors import BackendError, PartialBatchError, local_extra_error
from langgraph_ttc.models.openai_faults import (
    describe,
    gave_up,
    is_retryable,
    malformed,
    retry_wait,
)
from langgraph_ttc.models.openai_payloads import (
    PreparedRequest,
    chat_logprobs,
    read_choices,
    request_kwargs,
)
from langgraph_ttc.types import Completion, GenerationRequest

logger = logging.getLogger(__name__)


@dataclass
class _LoopState:
    client: openai.AsyncOpenAI
    semaphore: asyncio.Semaphore


class OpenAIGenerator:
    """Samples from an OpenAI-compatible HTTP endpoint with the official ``openai`` SDK.

    **Sampling n.** When ``supports_n`` is ``None``, the first request with
    ``n > 1`` asks for ``n`` choices and counts what came back. Servers that ignore
    ``n`` (llama.cpp, ``transformers serve``) return one; the adapter then remembers
    ``supports_n = False`` and fans the missing samples out as separate requests,
    at most ``max_concurrency`` in flight. A short answer is always filled up this
    way, whatever ``supports_n`` says. Fanned-out sample ``i`` carries ``seed + i``
    when the request has a seed, so seeded servers do not repeat one sample.

    **Prefixes.** ``completions`` mode sends the rendered prompt plus the prefix as
    raw text (chat prompts are rendered with ``tokenizer``'s chat template, which
    is then required). ``chat`` mode cannot continue a partial answer with plain
    chat: a non-empty prefix is sent as a final assistant message with
    ``continue_final_message=True, add_generation_prompt=False`` in the body, which
    vLLM (and SGLang) understand; other servers reject those fields (a clear
    ``BackendError``) and need ``mode="completions"``.

    **Stops** are passed to the server, and the text is cut before the first stop
    string anyway (``transformers serve`` with continuous batching ignores them).

    **Token counts** come from the response's ``usage``: what the server billed,
    so a server that overran a stop string is charged in full. With ``n`` choices
    in one response, the prompt was read once: its tokens are split over the
    choices so that their sum is the billed count, and completion tokens are split
    in proportion to each choice's text length, again summing to the billed count.
    Without ``usage``, tokens are counted with ``tokenizer`` when given (plus one
    for the stop or EOS token of a stopped sample), else *estimated* at four
    characters a token.

    **Faults.** The SDK's own retries are off; timeouts, connection errors, 429,
    5xx and malformed bodies (non-JSON, no choices, a choice without text) are
    retried with exponential backoff and jitter (``Retry-After`` is honoured up to
    30 s). Another 4xx, or exhausted retries, fails the sample for good. When
    every sample of a call failed, ``BackendError`` names the endpoint, the
    status and the last error; when some came back, ``PartialBatchError`` (a
    ``BackendError``) carries them, request by request, so that nothing that
    came back is lost.

    Args:
        model: The model name the endpoint serves.
        base_url: The endpoint, e.g. ``http://127.0.0.1:8000/v1``; defaults to
            ``OPENAI_BASE_URL`` or OpenAI's.
        api_key: Defaults to ``OPENAI_API_KEY``, else a placeholder (local servers).
        mode: ``chat`` (``/chat/completions``) or ``completions`` (``/completions``).
        supports_n: Whether the server honours ``n``; ``None`` finds out.
        max_concurrency: Cap on requests in flight, per event loop.
        timeout: Seconds before one HTTP attempt times out.
        max_retries: Retries after the first attempt.
        params: The model's parameter count, for FLOPs, when known.
        tokenizer: A tokenizer (or where to load one) for rendering chat prompts in
            completions mode and counting tokens when the server reports none.
        name: Name in traces and reports; defaults to ``openai:<model>``.
        extra_body: Extra JSON fields sent with every request.
        logprobs: Ask for token log-probabilities (chat mode only).
        retry_backoff: First backoff in seconds (it doubles, plus up to this much jitter).
        max_backoff: Cap on one backoff, in seconds.
    """

    ls_provider = "openai"
    """The provider LangSmith reads for this adapter's model runs."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        mode: Literal["chat", "completions"] = "chat",
        supports_n: bool | None = None,
        max_concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        params: int | None = None,
        tokenizer: Any = None,
        name: str | None = None,
        extra_body: dict[str, Any] | None = None,
        logprobs: bool = False,
        retry_backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"model must be a non-empty str, got {model!r}")
        if mode not in ("chat", "completions"):
            raise ValueError(f"mode must be 'chat' or 'completions', got {mode!r}")
        if supports_n not in (None, True, False):
            raise TypeError(f"supports_n must be a bool or None, got {supports_n!r}")
        for field, value in (("max_concurrency", max_concurrency), ("max_retries", max_retries)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{field} must be an int, got {value!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        for field, num in (
            ("timeout", timeout),
            ("retry_backoff", retry_backoff),
            ("max_backoff", max_backoff),
        ):
            if isinstance(num, bool) or not isinstance(num, int | float) or num < 0:
                raise ValueError(f"{field} must be a number >= 0, got {num!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout!r}")
        if params is not None and (
            isinstance(params, bool) or not isinstance(params, int) or params < 1
        ):
            raise ValueError(f"params must be a positive int or None, got {params!r}")
        if extra_body is not None and not isinstance(extra_body, dict):
            raise TypeError(f"extra_body must be a dict, got {type(extra_body).__name__}")
        if logprobs and mode != "chat":
            raise ValueError("logprobs=True is supported in chat mode only")
        self.model = model
        self.base_url = (
            base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        ).rstrip("/")
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.mode = mode
        self.supports_n = supports_n
        self.max_concurrency = max_concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.params = params
        self.name = name or f"openai:{model}"
        self.extra_body = dict(extra_body or {})
        self.logprobs = logprobs
        self.retry_backoff = float(retry_backoff)
        self.max_backoff = float(max_backoff)
        self._tokenizer_arg = tokenizer
        self._tokenizer: Any = None
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def endpoint(self) -> str:
        """The URL requests go to."""
        return f"{self.base_url}/{'chat/completions' if self.mode == 'chat' else 'completions'}"

    @property
    def tokenizer(self) -> Any:
        """The tokenizer, loaded on first use, or ``None``."""
        if self._tokenizer is None and self._tokenizer_arg is not None:
            if isinstance(self._tokenizer_arg, str | os.PathLike):
                try:
                    from transformers import AutoTokenizer
                except ImportError as exc:
                    raise local_extra_error("a tokenizer loaded by path", "transformers") from exc

                self._tokenizer = AutoTokenizer.from_pretrained(str(self._tokenizer_arg))
            else:
                self._tokenizer = self._tokenizer_arg
        return self._tokenizer

    # ------------------------------------------------------------------ public API

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Sample ``n`` completions for each request (sync; runs the async body in its own loop).

        Returns:
            One list of exactly ``n`` completions per request, in request order.

        Raises:
            TypeError, ValueError: On a bad request.
            BackendError: When the endpoint rejects a request or keeps failing.
        """
        reqs = validate_requests(requests)
        prepared = [self._prepare(r) for r in reqs]

        async def body() -> list[list[Completion]]:
            state = self._new_state()
            try:
                return await self._run(prepared, state)
            finally:
                await state.client.close()

        return run_sync(body)

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Async twin of ``generate``.

        Nothing blocks the event loop: a tokenizer named by path and the HTTP
        client (which reads the CA certificates) are made in a worker thread.
        """
        reqs = validate_requests(requests)
        if self._tokenizer is None and isinstance(self._tokenizer_arg, str | os.PathLike):
            await asyncio.to_thread(lambda: self.tokenizer)
        prepared = [self._prepare(r) for r in reqs]
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            made = await asyncio.to_thread(self._new_state)
            state = self._loops.setdefault(loop, made)
            if state is not made:  # another call on this loop got there first
                await made.client.close()
        return await self._run(prepared, state)

    async def aclose(self) -> None:
        """Close the HTTP client of the running event loop, if one was opened."""
        state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.client.close()

    # ------------------------------------------------------------------ request building

    def _new_state(self) -> _LoopState:
        client = openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=0,  # tenacity retries, with our policy
        )
        return _LoopState(client, asyncio.Semaphore(self.max_concurrency))

    def _prepare(self, req: GenerationRequest) -> PreparedRequest:
        body = dict(self.extra_body)
        if self.mode == "chat":
            messages = as_messages(req.prompt)
            if req.prefix:
                messages.append({"role": "assistant", "content": req.prefix})
                body.update(continue_final_message=True, add_generation_prompt=False)
            return PreparedRequest(req, messages, None, body)
        if isinstance(req.prompt, str):
            text = req.prompt
        else:
            tok = self.tokenizer
            if tok is None or not getattr(tok, "chat_template", None):
                raise ValueError(
                    f"{self.name}: chat-message prompts in completions mode need a tokenizer "
                    "with a chat template (pass tokenizer=...), or use mode='chat'"
                )
            text = tok.apply_chat_template(req.prompt, add_generation_prompt=True, tokenize=False)
        return PreparedRequest(req, None, text + req.prefix, body)

    # ------------------------------------------------------------------ running

    async def _run(
        self, prepared: list[PreparedRequest], state: _LoopState
    ) -> list[list[Completion]]:
        """All requests at once; what failed for good is reported with what came back."""
        if not prepared:
            return []
        tasks = [asyncio.create_task(self._one(p, state)) for p in prepared]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        out = [got for got, _ in results]
        errors = [e for _, errs in results for e in errs]
        if errors:
            received = sum(len(got) for got in out)
            if received == 0:
                raise errors[0]
            asked = sum(p.req.n for p in prepared)
            first = errors[0]
            raise PartialBatchError(
                f"{asked - received} of {asked} samples failed for good; "
                f"first error: {first.message}",
                completions=out,
                failed=asked - received,
                backend=self.name,
                status=first.status,
                retryable=first.retryable,
            ) from first
        check_result_shape([p.req for p in prepared], out, self.name)
        return out

    async def _one(
        self, p: PreparedRequest, state: _LoopState
    ) -> tuple[list[Completion], list[BackendError]]:
        """One request's samples, and the failures of those that did not come back."""
        req = p.req
        out: list[Completion] = []
        errors: list[BackendError] = []
        if req.n > 1 and self.supports_n is not False:
            try:
                got = await self._call(p, state, n=req.n, seed=req.seed)
            except BackendError as exc:
                return out, [exc]  # the request failed for good: no fan-out to a failing server
            out.extend(got[: req.n])
            if self.supports_n is None:
                self.supports_n = len(got) >= req.n
                if not self.supports_n:
                    logger.info(
                        "%s returned %d of n=%d choices: fanning samples out from now on",
                        self.endpoint,
                        len(got),
                        req.n,
                    )
        missing = range(len(out), req.n)
        if missing:
            extra = await asyncio.gather(
                *(
                    self._call(p, state, n=1, seed=None if req.seed is None else req.seed + i)
                    for i in missing
                ),
                return_exceptions=True,
            )
            for one in extra:
                if isinstance(one, BackendError):
                    errors.append(one)
                elif isinstance(one, BaseException):
                    raise one
                else:
                    out.append(one[0])
        return out, errors

    async def _call(
        self, p: PreparedRequest, state: _LoopState, *, n: int, seed: int | None
    ) -> list[Completion]:
        kwargs = request_kwargs(p, n, seed, model=self.model, logprobs=self._lp(p))
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
                    async with state.semaphore:
                        body = await self._post(state.client, kwargs)
                    return self._parse(body, p, n)
        except BackendError as exc:
            if exc.retryable:
                raise self._gave_up(exc, attempts) from exc
            raise
        except openai.APIStatusError as exc:
            if is_retryable(exc):
                raise self._gave_up(exc, attempts) from exc
            hint = ""
            if p.req.prefix and self.mode == "chat" and exc.status_code in (400, 422):
                hint = (
                    " (a prefix in chat mode needs continue_final_message, which this server "
                    "may not take: try mode='completions')"
                )
            raise BackendError(
                f"{self.endpoint} rejected the request: {describe(exc)}{hint}",
                backend=self.name,
                status=exc.status_code,
            ) from exc
        except openai.APIConnectionError as exc:
            raise self._gave_up(exc, attempts) from exc
        except openai.OpenAIError as exc:
            raise BackendError(
                f"{self.endpoint} failed: {describe(exc)}", backend=self.name
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    async def _post(self, client: openai.AsyncOpenAI, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.mode == "chat":
            raw = await client.chat.completions.with_raw_response.create(**kwargs)
        else:
            raw = await client.completions.with_raw_response.create(**kwargs)
        text = raw.text
        try:
            body = json.loads(text)
        except ValueError:
            raise malformed(self.name, f"the body is not JSON: {text[:200]!r}") from None
        if not isinstance(body, dict):
            raise malformed(self.name, f"the body is not a JSON object: {text[:200]!r}")
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

    def _gave_up(self, exc: BaseException, attempts: int) -> BackendError:
        return gave_up(exc, attempts, endpoint=self.endpoint, backend=self.name)

    # ------------------------------------------------------------------ parsing
    def _lp(self, p: PreparedRequest) -> bool:  # asked by the adapter or the request (chat)
        return self.logprobs or (p.req.logprobs and self.mode == "chat")

    def _parse(self, body: dict[str, Any], p: PreparedRequest, n: int) -> list[Completion]:
        rows = read_choices(body, mode=self.mode, n=n, backend=self.name)

        req = p.req
        texts: list[str] = []
        finishes: list[str] = []
        logprobs: list[tuple[float, ...] | None] = []
        for _, raw_text, reason, lp in rows:
            text, found = cut_at_stop(raw_text, req.stop)
            finish = "stop" if found or reason != "length" else "length"
            texts.append(text)
            finishes.append(finish)
            logprobs.append(chat_logprobs(lp, text, found) if self._lp(p) else None)

        usage = body.get("usage")
        pt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        ct = usage.get("completion_tokens") if isinstance(usage, dict) else None
        k = len(rows)
        # The prompt was read once for all choices: its count is spread over them.
        prompt_total = pt if isinstance(pt, int) and pt >= 0 else self._count_prompt(p)
        prompt_parts = split_total(prompt_total, [1.0] * k)
        if isinstance(ct, int) and ct >= 0:
            completion_parts = split_total(ct, [len(t) + 1 for t in texts])
        else:
            completion_parts = [
                self._count_text(t) + (1 if f == "stop" else 0)
                for t, f in zip(texts, finishes, strict=True)
            ]
        return [
            Completion(
                text=texts[i],
                finish_reason=finishes[i],
                prompt_tokens=prompt_parts[i],
                completion_tokens=completion_parts[i],
                logprobs=logprobs[i],
            )
            for i in range(k)
        ]

    def _count_text(self, text: str) -> int:
        tok = self.tokenizer
        if tok is not None:
            return len(tok.encode(text, add_special_tokens=False))
        return estimate_tokens(text)

    def _count_prompt(self, p: PreparedRequest) -> int:
        tok = self.tokenizer
        if p.prompt is not None:
            return self._count_text(p.prompt)
        assert p.messages is not None
        if tok is not None and getattr(tok, "chat_template", None):
            rendered = tok.apply_chat_template(
                p.messages[:-1] if p.req.prefix else p.messages,
                add_generation_prompt=True,
                tokenize=False,
            )
            return len(tok.encode(str(rendered) + p.req.prefix, add_special_tokens=False))
        # A few template tokens per message on top of the content.
        return sum(self._count_text(m["content"]) + 4 for m in p.messages)


__all__ = ["OpenAIGenerator"]
