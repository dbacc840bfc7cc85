"""Running one request's TTC graph: the concurrency gate, the time cap, the events.

``TTCService`` holds the compiled compute-optimal graph (``create_ttc_graph``)
on the server's models and runs one :class:`RunRequest` at a time per call
of :meth:`TTCService.events`: progress events as the graph emits them on its
custom stream, then one :class:`RunResult`. Everything that can go wrong
comes out as an :class:`APIError` whose message holds no secret, path or
traceback; the details, redacted, go to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph_ttc.chat import best_solution
from langgraph_ttc.integrations.server.logs import LOGGER, redact
from langgraph_ttc.integrations.server.protocol import APIError, RunRequest, usage_of
from langgraph_ttc.integrations.server.settings import ServerSettings
from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.router import ComputePolicy, default_plan
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
from langgraph_ttc.types import NEEDS_VERIFIER, STRATEGIES, Budget, Generator, Verifier

__all__ = ["RunResult", "Slot", "TTCService"]

_TASK_HINT = (
    "to ask anything else, start the server on your own model: "
    "ttc serve --model PATH_OR_ID, or --endpoint URL --endpoint-model NAME"
)


@dataclass
class RunResult:
    """What a finished run hands back.

    Attributes:
        text: The reply: the best solution for the selected answer (cut at ``stop``).
        usage: OpenAI's ``usage`` with the extra keys (``protocol.usage_of``).
        ttc: The TTC result: answer, confidence, strategy, difficulty, status, plan, budget.
    """

    text: str
    usage: dict[str, Any]
    ttc: dict[str, Any]


@dataclass
class Slot:
    """A place under the concurrency cap; ``release`` may be called any number of times."""

    service: TTCService
    released: bool = field(default=False)

    def release(self) -> None:
        """Give the place back (once)."""
        if not self.released:
            self.released = True
            self.service.in_flight -= 1


class TTCService:
    """The graph and the gate behind the server's routes.

    Args:
        generator: The policy model.
        verifier: A verifier for the router and the searches (``None``: the
            strategies that need one are not offered).
        reviser: The revision model (default: the generator).
        policy: The router's ``ComputePolicy`` (default: the shipped one).
        settings: The caps.
        task_only: Refuse questions outside the bundled task (400): set for
            the bundled models, which answer nothing else.
    """

    def __init__(
        self,
        generator: Generator,
        *,
        verifier: Verifier | None = None,
        reviser: Generator | None = None,
        policy: ComputePolicy | None = None,
        settings: ServerSettings,
        task_only: bool = False,
    ) -> None:
        self.settings = settings
        self.task_only = task_only
        self.strategies: tuple[str, ...] = tuple(
            s for s in STRATEGIES if verifier is not None or s not in NEEDS_VERIFIER
        )
        self.has_verifier = verifier is not None
        self.graph = create_ttc_graph(
            generator, verifier=verifier, reviser=reviser, policy=policy
        ).compile(name="ttc")
        self.in_flight = 0
        self.created = int(time.time())

    # ------------------------------------------------------------------ gate

    def try_acquire(self) -> Slot | None:
        """A slot under the cap, or ``None`` when ``max_concurrent`` runs are in flight."""
        if self.in_flight >= self.settings.max_concurrent:
            return None
        self.in_flight += 1
        return Slot(self)

    # ------------------------------------------------------------------ runs

    def check(self, req: RunRequest) -> str:
        """Refuse what this server cannot run; return the question as the models read it.

        Raises:
            APIError: 400 for a strategy that needs a missing verifier, or a
                question outside the bundled task on the bundled models.
        """
        if req.strategy != "auto":
            plan = default_plan(req.strategy, req.budget)
            problem = plan.requirement_error(has_verifier=self.has_verifier)
            if problem is not None or req.strategy not in self.strategies:
                raise APIError(
                    400,
                    f"strategy {req.strategy.replace('_', '-')!r} cannot run on this server "
                    f"({problem or 'not available'}); it runs: auto, "
                    + ", ".join(s.replace("_", "-") for s in self.strategies),
                    param="model",
                    code="unknown_strategy",
                )
        if not self.task_only:
            return req.question
        from langgraph_ttc.suite.task import check_question_in_task

        try:
            return check_question_in_task(req.question, hint=_TASK_HINT)
        except ValueError as exc:
            raise APIError(400, str(exc), param="messages", code="question_out_of_task") from None

    def context(self, req: RunRequest) -> TTCContext:
        """The run settings of a request."""
        plan = None if req.strategy == "auto" else default_plan(req.strategy, req.budget)
        return TTCContext(
            seed=req.seed,
            budget=Budget(generations=req.budget),
            plan=plan,
            max_tokens=req.max_tokens,
            deadline_s=req.timeout_s,
        )

    async def events(self, req: RunRequest) -> AsyncGenerator[tuple[str, Any], None]:
        """Run ``req``: ``("progress", event)`` as the search goes, then ``("result", RunResult)``.

        Raises:
            APIError: 400 for what the request asks wrongly, 502 when the model
                backend failed, 504 past the time cap, 500 otherwise (logged).
        """
        question = self.check(req)
        context = self.context(req)
        rid = uuid.uuid4().hex[:8]
        started = time.monotonic()
        final: dict[str, Any] = {}
        probes: Mapping[str, Any] = {}
        hard_limit = req.timeout_s + max(2.0, 0.5 * req.timeout_s)
        try:
            async with asyncio.timeout(hard_limit):
                graph: Any = self.graph
                parts = graph.astream(
                    {"question": question},
                    context=context,
                    stream_mode=["custom", "values", "updates"],
                    subgraphs=True,
                    version="v2",
                )
                async for part in parts:
                    kind, data = part.get("type"), part.get("data")
                    if kind == "custom" and isinstance(data, Mapping):
                        yield "progress", dict(data)
                    elif part.get("ns") or not isinstance(data, Mapping):
                        continue
                    elif kind == "values":
                        final = dict(data)
                    elif kind == "updates" and isinstance(data.get("route"), Mapping):
                        probes = data["route"].get("usage") or {}
        except TimeoutError:
            LOGGER.warning("run %s stopped: past the hard time limit of %.1f s", rid, hard_limit)
            raise APIError(
                504,
                f"the run took longer than its time limit of {req.timeout_s:g} s",
                type="timeout_error",
                code="run_timeout",
            ) from None
        except (ValueError, TypeError) as exc:
            LOGGER.info("run %s refused: %s", rid, redact(exc))
            raise APIError(400, redact(exc, limit=300)) from None
        except BackendError as exc:
            LOGGER.warning("run %s: model backend failed: %s", rid, redact(exc))
            raise _backend_failed(rid) from None
        except Exception as exc:
            LOGGER.error("run %s failed: %s: %s", rid, type(exc).__name__, redact(exc))
            raise APIError(
                500,
                f"internal error while running the request (id {rid}); see the server log",
                type="server_error",
            ) from None
        status = final.get("status")
        if status == "backend_error" and final.get("answer") is None:
            LOGGER.warning("run %s: model backend failed: %s", rid, redact(final.get("error")))
            raise _backend_failed(rid)
        if final.get("error"):
            LOGGER.warning("run %s ended %s: %s", rid, status, redact(final.get("error")))
        yield "result", self._result(req, final, probes, time.monotonic() - started)

    def _result(
        self, req: RunRequest, final: Mapping[str, Any], probes: Mapping[str, Any], wall: float
    ) -> RunResult:
        answer = final.get("answer")
        best = best_solution(final.get("candidates") or [], answer)
        text = best["text"] if best is not None else (answer or "")
        if req.stop:
            text = text[: min((i for s in req.stop if (i := text.find(s)) >= 0), default=len(text))]
        ttc = {
            "answer": answer,
            "confidence": final.get("confidence"),
            "strategy": final.get("strategy"),
            "difficulty": final.get("difficulty"),
            "status": status if (status := final.get("status")) else "no_candidates",
            "plan": final.get("plan"),
            "budget": req.budget,
            "seed": req.seed,
        }
        return RunResult(text=text, usage=usage_of(final.get("usage") or {}, probes, wall), ttc=ttc)

    async def run(self, req: RunRequest) -> RunResult:
        """Run ``req`` to the end and return its result (progress is dropped)."""
        async with contextlib.aclosing(self.events(req)) as events:
            async for kind, payload in events:
                if kind == "result":
                    return payload  # type: ignore[no-any-return]
        raise RuntimeError("the run ended without a result")  # pragma: no cover

    def warm_up(self) -> None:
        """Run one tiny question, so the first request does not pay for loading the models."""
        context = TTCContext(
            plan=default_plan("best_of_n" if self.has_verifier else "majority", 1),
            budget=Budget(generations=1),
            max_tokens=16,
        )
        try:
            self.graph.invoke({"question": "1+2"}, context=context)
        except Exception as exc:  # a warm-up is a courtesy: say so, go on
            LOGGER.warning("warm-up failed (%s): %s", type(exc).__name__, redact(exc))


def _backend_failed(rid: str) -> APIError:
    return APIError(
        502,
        f"the model backend failed (request id {rid}); see the server log",
        type="server_error",
        code="backend_error",
    )
