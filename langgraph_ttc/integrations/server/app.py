"""The ASGI app: OpenAI's chat-completions and models routes in front of a TTC graph.

Routes (every one behind the API key when the server has one):

- ``POST /v1/chat/completions``: run the question (the last user message)
  with the strategy and budget the request names (``protocol``); a
  ``chat.completion``, or with ``stream: true`` server-sent
  ``chat.completion.chunk`` events: the search's progress as it happens
  (``delta.reasoning_content``, one line per step, the raw event in the
  extra ``ttc_progress`` field), then the answer (``delta.content``), then a
  last chunk with ``finish_reason`` and the ``ttc`` result, a usage chunk
  when ``stream_options.include_usage`` is set, and ``data: [DONE]``.
- ``GET /v1/models`` and ``GET /v1/models/{id}``.

Errors are OpenAI error objects: 400 (a bad field, named), 401 (no or wrong
key), 404, 413 (body or question too large), 429 (``max_concurrent`` runs
in flight), 502 (the model backend failed), 504 (past the time cap), 500.
No response and no log line holds a key, a file path or a traceback: each
request gets one access line (method, path, status, seconds), failures one
redacted line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from langgraph_ttc.chat import describe_progress
from langgraph_ttc.integrations.server.logs import LOGGER, add_secrets, redact
from langgraph_ttc.integrations.server.protocol import (
    APIError,
    RunRequest,
    chunk,
    completion,
    error_body,
    model_card,
    model_ids,
    new_id,
    now,
    parse_model,
    parse_request,
)
from langgraph_ttc.integrations.server.runner import RunResult, Slot, TTCService
from langgraph_ttc.integrations.server.settings import ServerSettings
from langgraph_ttc.router import ComputePolicy
from langgraph_ttc.types import Generator, Verifier

__all__ = ["create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def create_app(
    generator: Generator | None = None,
    *,
    verifier: Verifier | None = None,
    reviser: Generator | None = None,
    policy: ComputePolicy | None = None,
    settings: ServerSettings | None = None,
    secrets: tuple[str, ...] = (),
    warm_up: bool = False,
    device: str | None = None,
) -> FastAPI:
    """The OpenAI-compatible TTC server as a FastAPI app (serve it with uvicorn).

    Args:
        generator: The policy model; ``None`` runs the bundled models (which
            answer only the bundled task: other questions get a 400), with
            their verifier and reviser where those are not given.
        verifier: A verifier for the router and the searches.
        reviser: A revision model.
        policy: The router's ``ComputePolicy``.
        settings: Key and caps (``ServerSettings()`` when unset).
        secrets: More strings never to show in a response or log (an upstream key).
        warm_up: Run a tiny question at startup, so the first request does not
            load the models.
        device: Torch device for the bundled models.

    Returns:
        The app. Its ``state.service`` is the :class:`TTCService`.
    """
    settings = settings or ServerSettings()
    add_secrets((settings.api_key, *secrets))
    task_only = generator is None
    if generator is None:
        from langgraph_ttc.defaults import load_bundled

        bundled = load_bundled(device)
        generator = bundled.generator
        verifier = verifier or bundled.verifier
        reviser = reviser or bundled.reviser
    service = TTCService(
        generator,
        verifier=verifier,
        reviser=reviser,
        policy=policy,
        settings=settings,
        task_only=task_only,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            await asyncio.to_thread(service.warm_up)
        LOGGER.info(
            "serving %s; %s",
            ", ".join(model_ids(service.strategies, settings.model_prefix)),
            "API key required" if settings.api_key else "no API key (loopback only)",
        )
        yield

    app = FastAPI(
        title="langgraph-ttc",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(_Guard, api_key=settings.api_key)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = "not_found" if exc.status_code == 404 else "invalid_request_error"
        message = (
            f"no route {request.method} {request.url.path}"
            if exc.status_code
            in (
                404,
                405,
            )
            else redact(exc.detail)
        )
        return _error(APIError(exc.status_code, message, type=kind))

    @app.get("/v1/models")
    async def list_models() -> Response:
        ids = model_ids(service.strategies, settings.model_prefix)
        data = [model_card(i, service.created, settings) for i in ids]
        return JSONResponse({"object": "list", "data": data})

    @app.get("/v1/models/{model_id}")
    async def get_model(model_id: str) -> Response:
        try:
            strategy, budget = parse_model(model_id, settings.model_prefix)
            if strategy not in (None, "auto", *service.strategies):
                raise APIError(404, f"model {model_id!r} is not served here")
            if budget is not None and not 1 <= budget <= settings.max_budget:
                raise APIError(404, f"budget {budget} is over the cap of {settings.max_budget}")
        except APIError as exc:
            return _error(APIError(404, exc.message, code="model_not_found"))
        return JSONResponse(model_card(model_id, service.created, settings))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        try:
            req = parse_request(await _read_json(request, settings.max_body_bytes), settings)
            service.check(req)
        except APIError as exc:
            return _error(exc)
        slot = service.try_acquire()
        if slot is None:
            return _error(
                APIError(
                    429,
                    f"the server is running {settings.max_concurrent} requests, its cap; "
                    "retry shortly",
                    type="rate_limit_error",
                    code="concurrency_limit",
                ),
                headers={"Retry-After": "1"},
            )
        if req.stream:
            return StreamingResponse(
                _sse(service, req, slot),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        try:
            result = await service.run(req)
        except APIError as exc:
            return _error(exc)
        finally:
            slot.release()
        return JSONResponse(
            completion(
                req,
                cid=new_id(),
                created=now(),
                text=result.text,
                usage=result.usage,
                ttc=result.ttc,
            )
        )

    return app


async def _read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    too_big = APIError(
        413, f"the request body is over this server's cap of {limit} bytes", code="body_too_large"
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise too_big
    try:
        return json.loads(body)
    except ValueError:
        raise APIError(400, "the request body is not valid JSON") from None


def _error(exc: APIError, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _sse_line(data: dict[str, Any] | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


async def _sse(service: TTCService, req: RunRequest, slot: Slot) -> AsyncIterator[str]:
    """The stream of one run: role, progress as it happens, answer, finish, usage, [DONE]."""
    cid, created = new_id(), now()
    result: RunResult | None = None
    try:
        yield _sse_line(
            chunk(req, cid=cid, created=created, delta={"role": "assistant", "content": ""})
        )
        # aclosing: a client that goes away stops the run, not just the stream.
        async with contextlib.aclosing(service.events(req)) as events:
            async for kind, payload in events:
                if kind == "progress":
                    line = describe_progress(payload) + "\n"
                    delta = {"reasoning_content": line}
                    yield _sse_line(
                        chunk(req, cid=cid, created=created, delta=delta, ttc_progress=payload)
                    )
                else:
                    result = payload
        slot.release()  # before the last chunks: a client may ask again as soon as it has them
    except APIError as exc:
        slot.release()
        yield _sse_line(exc.body())
        return
    except Exception as exc:  # the events already log; this is a last guard
        slot.release()
        LOGGER.error("stream %s failed: %s: %s", cid, type(exc).__name__, redact(exc))
        yield _sse_line(error_body("internal error while streaming", type="server_error"))
        return
    finally:
        slot.release()
    if result is None:  # pragma: no cover - events always end with a result
        return
    yield _sse_line(chunk(req, cid=cid, created=created, delta={"content": result.text}))
    yield _sse_line(
        chunk(req, cid=cid, created=created, delta={}, finish_reason="stop", ttc=result.ttc)
    )
    if req.include_usage:
        yield _sse_line(chunk(req, cid=cid, created=created, usage=result.usage))
    yield _sse_line("[DONE]")


class _Guard:
    """Outer ASGI layer: the API key on every route, one access line, no traceback out."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None

    def _authorized(self, scope: Scope) -> bool:
        if self.api_key is None:
            return True
        for name, value in scope.get("headers") or []:
            if name.lower() == b"authorization" and value[:7].lower() == b"bearer ":
                return hmac.compare_digest(value[7:].strip(), self.api_key)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = {"code": 0}

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            if self._authorized(scope):
                await self.app(scope, receive, send_and_note)
            else:
                response = _error(
                    APIError(
                        401,
                        "missing or wrong API key: send the header Authorization: Bearer <key>",
                        code="invalid_api_key",
                    ),
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send_and_note)
        except Exception as exc:
            LOGGER.error("request failed: %s: %s", type(exc).__name__, redact(exc))
            if not status["code"]:
                response = JSONResponse(
                    error_body("internal error; see the server log", type="server_error"),
                    status_code=500,
                )
                await response(scope, receive, send_and_note)
        finally:
            LOGGER.info(
                "%s %s %s %.2fs",
                scope.get("method"),
                redact(scope.get("path", ""), limit=120),
                status["code"] or "-",
                time.monotonic() - started,
            )
