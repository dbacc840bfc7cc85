"""A generator over any LangChain chat model."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, convert_to_messages
from langchain_core.runnables import Runnable

from langgraph_ttc.models.base import (
    as_messages,
    check_result_shape,
    cut_at_stop,
    estimate_tokens,
    validate_requests,
)
from langgraph_ttc.models.errors import BackendError, PartialBatchError
from langgraph_ttc.types import Completion, GenerationRequest

_MAX_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "num_predict")
_LENGTH_REASONS = {"length", "max_tokens", "MAX_TOKENS", "max_output_tokens"}


class ChatModelGenerator:
    """Samples from a LangChain chat model, ``n`` times per request, with ``batch``/``abatch``.

    What is passed to the model: ``stop`` always (the standard chat-model call
    argument). ``temperature``, ``top_p`` (when below 1) and the token cap are bound
    as call kwargs only where the model class declares a field of that name (the
    cap under the first of ``max_tokens``, ``max_completion_tokens``,
    ``max_output_tokens``, ``num_predict`` it declares): OpenAI, Anthropic and most
    providers accept them per call. ``bind_sampling=False`` passes only ``stop``.
    Seeds are not passed: a seed shared by the ``n`` samples would make some
    providers repeat one sample. Requests with equal sampling settings share one
    ``batch`` call.

    A prompt becomes messages (a str is one human message); a non-empty prefix is
    sent as a final AI message ("prefill"): Anthropic continues it, other
    providers may answer afresh. The returned text is cut before the first stop
    string. Token counts come from ``usage_metadata``; when a model gives none they
    are *estimated* at four characters a token (plus one for the stop token).
    ``finish_reason`` is read from ``response_metadata`` (``finish_reason``,
    ``stop_reason`` or ``done_reason``): a length/max-tokens reason is ``"length"``,
    anything else ``"stop"``. A model error escapes as ``BackendError`` (chat
    models retry on their own, see their ``max_retries``); when only some calls
    of a batch failed, as ``PartialBatchError`` carrying the replies that came
    back.

    The chat model's own calls are LangChain runs (type ``llm``, with their
    usage), so the driver traces no second model run around them
    (``langchain_traced``).

    Args:
        chat_model: Any LangChain chat model.
        params: Its parameter count, for FLOPs, when known.
        name: Name in traces and reports; defaults to the model's ``_llm_type``.
        max_concurrency: Cap on calls in flight.
        bind_sampling: Bind temperature, top_p and the token cap where supported.
    """

    langchain_traced = True
    """The chat model traces its own calls as LangSmith ``llm`` runs."""

    def __init__(
        self,
        chat_model: BaseChatModel,
        *,
        params: int | None = None,
        name: str | None = None,
        max_concurrency: int = 8,
        bind_sampling: bool = True,
    ) -> None:
        if not isinstance(chat_model, BaseChatModel):
            raise TypeError(
                f"chat_model must be a LangChain BaseChatModel, got {type(chat_model).__name__}"
            )
        if (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 1
        ):
            raise ValueError(f"max_concurrency must be a positive int, got {max_concurrency!r}")
        if params is not None and (
            isinstance(params, bool) or not isinstance(params, int) or params < 1
        ):
            raise ValueError(f"params must be a positive int or None, got {params!r}")
        self.chat_model = chat_model
        self.params = params
        self.name = name or f"chat:{getattr(chat_model, '_llm_type', type(chat_model).__name__)}"
        self.max_concurrency = max_concurrency
        self.bind_sampling = bind_sampling
        fields = set(getattr(type(chat_model), "model_fields", {}))
        self._fields = fields
        self._max_field = next((f for f in _MAX_TOKEN_FIELDS if f in fields), None)

    # ------------------------------------------------------------------ public API

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Sample ``n`` completions per request with the model's ``batch``.

        Returns:
            One list of exactly ``n`` completions per request, in request order.

        Raises:
            TypeError, ValueError: On a bad request.
            BackendError: When the model raises.
        """
        reqs = validate_requests(requests)
        groups = self._groups(reqs)
        replies: dict[tuple[int, int], Any] = {}
        for kwargs, rows in groups:
            runnable = self._bound(kwargs)
            inputs = [self._messages(reqs[i]) for i, _ in rows]
            try:
                outs = runnable.batch(
                    inputs,
                    config={"max_concurrency": self.max_concurrency},
                    return_exceptions=True,
                )
            except Exception as exc:
                raise self._error(exc) from exc
            replies.update(zip(rows, outs, strict=True))
        return self._collect(reqs, replies)

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Async twin of ``generate``, with ``abatch``."""
        reqs = validate_requests(requests)
        groups = self._groups(reqs)
        per_group = max(1, self.max_concurrency // max(1, len(groups)))

        async def run(kwargs: dict[str, Any], rows: list[tuple[int, int]]) -> list[Any]:
            inputs = [self._messages(reqs[i]) for i, _ in rows]
            return await self._bound(kwargs).abatch(
                inputs, config={"max_concurrency": per_group}, return_exceptions=True
            )

        try:
            outs = await asyncio.gather(*(run(kw, rows) for kw, rows in groups))
        except Exception as exc:
            raise self._error(exc) from exc
        replies: dict[tuple[int, int], Any] = {}
        for (_, rows), got in zip(groups, outs, strict=True):
            replies.update(zip(rows, got, strict=True))
        return self._collect(reqs, replies)

    # ------------------------------------------------------------------ internals

    def _groups(
        self, reqs: list[GenerationRequest]
    ) -> list[tuple[dict[str, Any], list[tuple[int, int]]]]:
        groups: dict[tuple[Any, ...], tuple[dict[str, Any], list[tuple[int, int]]]] = {}
        for i, r in enumerate(reqs):
            kwargs = self._kwargs(r)
            key = tuple(
                sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items())
            )
            groups.setdefault(key, (kwargs, []))[1].extend((i, j) for j in range(r.n))
        return list(groups.values())

    def _kwargs(self, req: GenerationRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if req.stop:
            kwargs["stop"] = list(req.stop)
        if self.bind_sampling:
            if "temperature" in self._fields:
                kwargs["temperature"] = float(req.temperature)
            if "top_p" in self._fields and req.top_p < 1.0:
                kwargs["top_p"] = float(req.top_p)
            if self._max_field is not None:
                kwargs[self._max_field] = req.max_tokens
        return kwargs

    def _bound(self, kwargs: dict[str, Any]) -> Runnable[Any, Any]:
        return self.chat_model.bind(**kwargs) if kwargs else self.chat_model

    @staticmethod
    def _messages(req: GenerationRequest) -> list[BaseMessage]:
        messages = convert_to_messages(as_messages(req.prompt))
        if req.prefix:
            messages.append(AIMessage(content=req.prefix))
        return messages

    def _error(self, exc: Exception) -> BackendError:
        if isinstance(exc, BackendError):
            return exc
        status = getattr(exc, "status_code", None)
        return BackendError(
            f"{self.name} failed: {type(exc).__name__}: {exc}",
            backend=self.name,
            status=status if isinstance(status, int) else None,
        )

    def _collect(
        self, reqs: list[GenerationRequest], replies: dict[tuple[int, int], Any]
    ) -> list[list[Completion]]:
        out: list[list[Completion]] = []
        errors: list[Exception] = []
        for i, r in enumerate(reqs):
            per: list[Completion] = []
            for j in range(r.n):
                reply = replies[(i, j)]
                if isinstance(reply, Exception):
                    errors.append(reply)
                else:
                    per.append(self._completion(r, reply))
            out.append(per)
        if errors:
            first = self._error(errors[0])
            received = sum(len(per) for per in out)
            if received == 0:
                raise first from (errors[0] if first is not errors[0] else None)
            raise PartialBatchError(
                f"{len(errors)} of {len(errors) + received} samples failed: {first.message}",
                completions=out,
                failed=len(errors),
                backend=self.name,
                status=first.status,
            ) from errors[0]
        check_result_shape(reqs, out, self.name)
        return out

    def _completion(self, req: GenerationRequest, msg: BaseMessage) -> Completion:
        if not isinstance(msg, BaseMessage):
            raise BackendError(
                f"{self.name} returned {type(msg).__name__}, not a message", backend=self.name
            )
        text, found = cut_at_stop(str(msg.text), req.stop)
        meta = msg.response_metadata or {}
        reason = meta.get("finish_reason") or meta.get("stop_reason") or meta.get("done_reason")
        finish = "length" if (reason in _LENGTH_REASONS and not found) else "stop"
        usage = getattr(msg, "usage_metadata", None)
        if usage and isinstance(usage.get("output_tokens"), int):
            prompt_tokens = int(usage.get("input_tokens") or 0)
            completion_tokens = int(usage["output_tokens"])
        else:
            prompt_tokens = sum(
                estimate_tokens(m["content"]) + 4 for m in as_messages(req.prompt)
            ) + estimate_tokens(req.prefix)
            completion_tokens = estimate_tokens(text) + (1 if finish == "stop" else 0)
        return Completion(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
