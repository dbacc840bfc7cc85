"""A generator for any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, transformers serve)."""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

import openai

from langgraph_ttc.models.base import (
    as_messages,
    check_result_shape,
    run_sync,
    validate_requests,
)
from langgraph_ttc.models.errors import BackendError, PartialBatchError, local_extra_error
from langgraph_ttc.models.openai_compat import (
    EMPTY_CONTINUATION,
    IdenticalSamplesWarning,
    bos_unknown,
    bos_verdict,
    check_options,
    identical_samples,
    is_openai_api,
    rejected_fields,
    repeated,
    sampling_fields,
    strip_bos,
    without,
)
from langgraph_ttc.models.openai_faults import (
    CHAT_PREFIX_HINT,
    check_transport,
    send_with_retries,
)
from langgraph_ttc.models.openai_payloads import (
    PreparedRequest,
    count_text,
    parse_completions,
    request_kwargs,
)
from langgraph_ttc.types import Completion, GenerationRequest

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class _LoopState:
    client: openai.AsyncOpenAI
    semaphore: asyncio.Semaphore
    bos_lock: asyncio.Lock


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
    raw text (chat prompts need ``tokenizer``'s chat template). ``chat`` mode sends
    the prefix as a final assistant message with ``continue_final_message=True,
    add_generation_prompt=False`` (vLLM, SGLang, llama.cpp's server).

    **Local servers** (see :mod:`langgraph_ttc.models.openai_compat`): a
    template-rendered BOS is left out when the server adds its own (one probe
    finds out); a chat server that ignores ``continue_final_message`` and answers
    empty is a ``BackendError`` that says to use ``mode="completions"``;
    ``top_k``, ``min_p`` and the repetition penalty are sent switched off unless
    set (not to OpenAI's API, which rejects unknown fields; ``extra_body`` wins);
    identical samples at ``temperature > 0`` raise ``IdenticalSamplesWarning``,
    logged and kept in ``warnings_seen``.

    **Stops** are passed to the server, and the text is cut before the first stop
    string anyway (``transformers serve`` with continuous batching ignores them).
    **Token counts** come from the response's ``usage``, else from ``tokenizer``,
    else are *estimated* (see ``openai_payloads.parse_completions``).

    **Faults** (see ``openai_faults``): timeouts, connection errors, 429, 5xx and
    malformed bodies are retried with backoff; another 4xx, or exhausted
    retries, fails the sample for good: ``BackendError`` when every sample of a
    call failed, else ``PartialBatchError`` carrying what came back.

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
        logprobs: Ask for token log-probabilities on every request.
        retry_backoff: First backoff in seconds (it doubles, plus up to this much jitter).
        max_backoff: Cap on one backoff, in seconds.
        server_adds_bos: Whether the server adds a BOS to ``/completions``
            prompts; ``None`` finds out (completions mode, BOS-rendering template).
        continues_prefix: Whether the server continues a final assistant message
            in chat mode; ``None`` checks the replies, ``True`` trusts them.
        neutral_sampling: Send ``top_k``/``min_p``/repetition penalty switched
            off unless set; ``None``: yes, except to OpenAI's API.
        top_k: Top-k to send (``None``: off when neutral, else the server's).
        min_p: Min-p to send.
        repetition_penalty: Repetition penalty to send (as ``repetition_penalty``
            and ``repeat_penalty``).
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
        server_adds_bos: bool | None = None,
        continues_prefix: bool | None = None,
        neutral_sampling: bool | None = None,
        top_k: int | None = None,
        min_p: float | None = None,
        repetition_penalty: float | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"model must be a non-empty str, got {model!r}")
        if mode not in ("chat", "completions"):
            raise ValueError(f"mode must be 'chat' or 'completions', got {mode!r}")
        check_options(
            supports_n=supports_n,
            server_adds_bos=server_adds_bos,
            continues_prefix=continues_prefix,
            neutral_sampling=neutral_sampling,
            top_k=top_k,
            min_p=min_p,
            repetition_penalty=repetition_penalty,
        )
        check_transport(
            max_concurrency=max_concurrency,
            max_retries=max_retries,
            timeout=timeout,
            retry_backoff=retry_backoff,
            max_backoff=max_backoff,
            params=params,
            extra_body=extra_body,
        )
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
        self.server_adds_bos = server_adds_bos
        self.continues_prefix = continues_prefix
        self.neutral_sampling = (
            not is_openai_api(self.base_url) if neutral_sampling is None else neutral_sampling
        )
        fields = partial(
            sampling_fields, top_k=top_k, min_p=min_p, repetition_penalty=repetition_penalty
        )
        self.sampling = fields(neutral=self.neutral_sampling)
        # Fields sent only to switch a server default off: dropped if the server rejects them.
        self._neutral_only = set(self.sampling) - set(fields(neutral=False)) - set(self.extra_body)
        self.warnings_seen: list[str] = []
        """Warnings about the server's replies so far (repeated samples, BOS)."""
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

    def _new_state(self) -> _LoopState:
        client = openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=0,  # tenacity retries, with our policy
        )
        return _LoopState(client, asyncio.Semaphore(self.max_concurrency), asyncio.Lock())

    def _prepare(self, req: GenerationRequest) -> PreparedRequest:
        body = {**self.sampling, **self.extra_body}
        if self.mode == "chat":
            messages = as_messages(req.prompt)
            if req.prefix:
                if self.continues_prefix is False:
                    raise BackendError(EMPTY_CONTINUATION, backend=self.name)
                messages.append({"role": "assistant", "content": req.prefix})
                body.update(continue_final_message=True, add_generation_prompt=False)
            return PreparedRequest(req, messages, None, body)
        if isinstance(req.prompt, str):
            return PreparedRequest(req, None, req.prompt + req.prefix, body)
        tok = self.tokenizer
        if tok is None or not getattr(tok, "chat_template", None):
            raise ValueError(
                f"{self.name}: chat-message prompts in completions mode need a tokenizer "
                "with a chat template (pass tokenizer=...), or use mode='chat'"
            )
        text = str(tok.apply_chat_template(req.prompt, add_generation_prompt=True, tokenize=False))
        bos = getattr(tok, "bos_token", None)
        bos = bos if isinstance(bos, str) and bos and text.startswith(bos) else None
        return PreparedRequest(req, None, text + req.prefix, body, bos=bos)

    # ------------------------------------------------------------------ running

    async def _run(
        self, prepared: list[PreparedRequest], state: _LoopState
    ) -> list[list[Completion]]:
        """All requests at once; what failed for good is reported with what came back."""
        if not prepared:
            return []
        await self._settle_bos(prepared, state)
        tasks = [asyncio.create_task(self._one(p, state)) for p in prepared]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        out = [got for got, _ in results]
        self._check_replies(prepared, out)
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

    async def _settle_bos(self, prepared: list[PreparedRequest], state: _LoopState) -> None:
        """Leave the rendered BOS out when the server adds its own (probed the first time)."""
        rendered = [p for p in prepared if p.bos is not None and p.prompt is not None]
        if not rendered:
            return
        if self.server_adds_bos is None:
            async with state.bos_lock:
                if self.server_adds_bos is None:
                    self.server_adds_bos = await self._probe_bos(rendered[0], state)
        if self.server_adds_bos:
            for p in rendered:
                p.prompt = strip_bos(p.prompt or "", p.bos)
                p.bos = None

    async def _probe_bos(self, p: PreparedRequest, state: _LoopState) -> bool:
        """One token, greedy, without the BOS: one more token than ours means it added one."""
        text = strip_bos(p.prompt or "", p.bos)
        req = GenerationRequest(text, max_tokens=1, temperature=0.0)
        probe = PreparedRequest(req, None, text, {})
        kwargs = request_kwargs(probe, 1, None, model=self.model, logprobs=False)
        usage = (await self._request(kwargs, state, probe, lambda body: body)).get("usage")
        served = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        local = count_text(self.tokenizer, text)
        verdict = bos_verdict(served, local)
        if verdict is None:
            self._warn(bos_unknown(self.endpoint, served, local, p.bos), RuntimeWarning)
            return False
        logger.info("%s adds a BOS token to prompts: %s", self.endpoint, verdict)
        return verdict

    def _check_replies(self, prepared: list[PreparedRequest], out: list[list[Completion]]) -> None:
        """Catch the silent failures: empty chat continuations and repeated samples."""
        if self.mode == "chat" and self.continues_prefix is None:
            texts = [
                c.text for p, got in zip(prepared, out, strict=True) if p.req.prefix for c in got
            ]
            if texts and not any(t.strip() for t in texts):
                raise BackendError(f"{self.endpoint}: {EMPTY_CONTINUATION}", backend=self.name)
            self.continues_prefix = True if texts else None  # once continued, empties are genuine
        for k, (p, got) in enumerate(zip(prepared, out, strict=True)):
            if identical_samples(p.req, got):
                self._warn(repeated(self.endpoint, k, p.req, got), IdenticalSamplesWarning)

    def _warn(self, message: str, category: type[Warning]) -> None:
        self.warnings_seen.append(message)
        logger.warning("%s", message)
        warnings.warn(message, category, stacklevel=3)

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
        lp = self.logprobs or p.req.logprobs
        kwargs = request_kwargs(
            p, n, seed, model=self.model, logprobs=lp, top_logprobs=p.req.top_logprobs
        )
        mode, name, tok = self.mode, self.name, self.tokenizer
        return await self._request(
            kwargs,
            state,
            p,
            lambda body: parse_completions(
                body, p, n, mode=mode, backend=name, tokenizer=tok, logprobs=lp
            ),
        )

    async def _request(
        self,
        kwargs: dict[str, Any],
        state: _LoopState,
        p: PreparedRequest,
        parse: Callable[[dict[str, Any]], T],
    ) -> T:
        """One request's body, retried on transient faults; a ``BackendError`` for good.

        A server that rejects the neutral sampling fields (``transformers serve``
        answers 422) gets the request again without them, and never again.
        """
        chat = self.mode == "chat"
        completions = state.client.chat.completions if chat else state.client.completions
        for _ in range(2):
            try:
                return await send_with_retries(
                    completions.with_raw_response.create,  # type: ignore[attr-defined]
                    kwargs,
                    parse,
                    semaphore=state.semaphore,
                    max_retries=self.max_retries,
                    backoff=self.retry_backoff,
                    max_backoff=self.max_backoff,
                    endpoint=self.endpoint,
                    backend=self.name,
                    reject_hint=CHAT_PREFIX_HINT if p.req.prefix and chat else "",
                )
            except BackendError as exc:
                dropped = rejected_fields(exc, kwargs.get("extra_body"), self._neutral_only)
                if not dropped:
                    raise
                for key in dropped:
                    self.sampling.pop(key, None)
                kwargs = {**kwargs, "extra_body": without(kwargs["extra_body"], dropped)}
                logger.warning("%s rejects %s: sent without them", self.endpoint, dropped)
        raise AssertionError("unreachable: the second attempt returns or raises")


__all__ = ["OpenAIGenerator"]
