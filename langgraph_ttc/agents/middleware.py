"""``TTCMiddleware``: test-time compute for the model calls of a LangChain agent.

``langchain.agents.create_agent`` runs its model through middleware;
``wrap_model_call(request, handler)`` may call the model several times and
return one response. ``TTCMiddleware`` does that on every model call::

    from langchain.agents import create_agent
    from langgraph_ttc.agents import TTCMiddleware

    agent = create_agent(model, tools=[search, calculator],
                         middleware=[TTCMiddleware(samples=5, run_budget=20)])
    result = agent.invoke({"messages": [{"role": "user", "content": "..."}]})
    result["ttc_usage"]   # model calls, samples, extra samples, tokens, early stops

On each call it samples the model through the agent's own handler (so tools
are bound as the agent bound them, and any inner middleware runs for each
sample), groups the samples (``langgraph_ttc.agents.candidates``: tool calls
by canonical name and arguments, final answers by the answer) and returns
the winning group's sample:

- ``selection="vote"``: the largest group;
- ``selection="verifier"``: the largest sum of scores, from a library
  ``Verifier`` (an LLM judge, a PRM, a function: ``score(question,
  solutions)``, its tokens counted apart) or a judge function
  ``judge(messages, candidate) -> float``;
- ``selection="confidence"``: the largest sum of the samples' token
  confidence (geometric mean of the token probabilities, from the model's
  logprobs: ``ChatOpenAI(logprobs=True)``); a sample without logprobs counts 1.

**Budget.** ``samples`` caps each call; ``run_budget`` caps the *extra*
samples of one agent run (the samples beyond the one per call the agent
draws anyway), so the run never spends past it: once it is spent, each
further call draws a single sample. **Adaptive stopping**: the first
``agree`` samples are drawn first; when they all agree the call stops there,
else the rest are drawn (at once, concurrently, under ``awrap_model_call``).

**Usage.** The returned message's ``usage_metadata`` adds up every sample's
tokens, its ``response_metadata["ttc"]`` tells what happened (samples,
groups, the winner, early stop), and the agent state's ``ttc_usage`` sums
the run: ``model_calls``, ``samples``, ``extra_samples``, ``input_tokens``,
``output_tokens``, ``total_tokens``, ``verifier_tokens``, ``early_stops``,
``failed_samples``.

A sample that raises is dropped when others came back (``failed_samples``);
when every sample of a call fails the first error propagates, as a plain
model call's would. It works with any LangChain chat model: it never relies
on a provider's ``n``. Sampling diversity comes from the model's own
temperature, or from ``temperature=`` here (passed as a model setting).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal, NotRequired, cast

from langgraph_ttc.agents.candidates import (
    AnswerKey,
    Candidate,
    candidate_key,
    default_answer_key,
    logprob_confidence,
    question_text,
    render_candidate,
    select,
)
from langgraph_ttc.types import fold_scores

try:
    from langchain.agents.middleware import (
        AgentMiddleware,
        AgentState,
        ExtendedModelResponse,
        ModelRequest,
        ModelResponse,
    )
    from langchain.agents.middleware.types import OmitFromInput, PrivateStateAttr
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "TTCMiddleware needs langchain>=1 (create_agent): pip install 'langgraph-ttc[agents]'"
    ) from exc
from langchain_core.messages import AIMessage, BaseMessage
from langgraph.runtime import Runtime
from langgraph.types import Command

__all__ = ["USAGE_KEYS", "Judge", "TTCAgentState", "TTCMiddleware"]

Selection = Literal["vote", "verifier", "confidence"]
Judge = Callable[[Sequence[BaseMessage], AIMessage], float | Awaitable[float]]
"""A judge function: ``judge(messages, candidate) -> score`` (sync or async)."""

USAGE_KEYS: tuple[str, ...] = (
    "model_calls",
    "samples",
    "extra_samples",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "verifier_tokens",
    "early_stops",
    "failed_samples",
)
"""The counters of ``ttc_usage``."""


def _add_usage(left: dict[str, int] | None, right: dict[str, int] | None) -> dict[str, int]:
    out = dict.fromkeys(USAGE_KEYS, 0)
    for part in (left, right):
        for key, value in (part or {}).items():
            out[key] = out.get(key, 0) + value
    return out


class TTCAgentState(AgentState[Any]):
    """The agent state with ``TTCMiddleware``'s counters.

    Attributes:
        ttc_usage: What test-time compute spent, summed over the thread (see ``USAGE_KEYS``).
        ttc_run_extra: Extra samples spent in the current run (reset when a run starts).
    """

    # LangGraph takes the last callable in Annotated as the reducer: keep _add_usage last.
    ttc_usage: NotRequired[Annotated[dict[str, int], OmitFromInput, _add_usage]]
    ttc_run_extra: NotRequired[Annotated[int, PrivateStateAttr]]


class TTCMiddleware(AgentMiddleware[TTCAgentState, Any]):
    """Sample each model call several times and return the best-supported answer.

    Args:
        samples: Samples per model call at most (the per-call budget).
        agree: Draw this many first; stop there when they all agree.
            ``None`` (or 1, or ``>= samples``) draws all ``samples`` at once.
        selection: ``vote``, ``verifier`` or ``confidence`` (see the module docstring).
        verifier: For ``selection="verifier"``: a ``langgraph_ttc`` ``Verifier``
            (``score(question, solutions)``; the question is the last human
            message, a solution the sample's text and tool calls), or a judge
            function ``judge(messages, candidate) -> float``.
        fold: How a verifier's step scores fold into one (``last``, ``min``, ``prod``, ``mean``).
        run_budget: Extra samples one agent run may spend (``None``: no cap).
        temperature: Sampling temperature to set on each sample's model call
            (a model setting); ``None`` leaves the model's own.
        answer_key: ``answer_key(text) -> str``: when two final answers are the same.

    Raises:
        ValueError, TypeError: For a bad setting, naming it.
    """

    state_schema = TTCAgentState

    def __init__(
        self,
        *,
        samples: int = 5,
        agree: int | None = 2,
        selection: Selection = "vote",
        verifier: Any = None,
        fold: str = "last",
        run_budget: int | None = None,
        temperature: float | None = None,
        answer_key: AnswerKey = default_answer_key,
    ) -> None:
        super().__init__()
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be a positive int, got {samples!r}")
        if agree is not None and (isinstance(agree, bool) or not isinstance(agree, int)):
            raise TypeError(f"agree must be an int or None, got {type(agree).__name__}")
        if agree is not None and agree < 1:
            raise ValueError(f"agree must be >= 1 or None, got {agree!r}")
        if selection not in ("vote", "verifier", "confidence"):
            raise ValueError(f"selection must be vote, verifier or confidence; got {selection!r}")
        if selection == "verifier" and verifier is None:
            raise ValueError(
                "selection='verifier' needs verifier= (a Verifier or a judge function)"
            )
        if verifier is not None and not (_is_verifier(verifier) or callable(verifier)):
            raise TypeError(
                "verifier must be a Verifier (score/ascore) or a judge function, "
                f"got {type(verifier).__name__}"
            )
        if fold not in ("last", "min", "prod", "mean"):
            raise ValueError(f"fold must be last, min, prod or mean; got {fold!r}")
        if run_budget is not None and (
            isinstance(run_budget, bool) or not isinstance(run_budget, int) or run_budget < 0
        ):
            raise ValueError(f"run_budget must be an int >= 0 or None, got {run_budget!r}")
        if temperature is not None and (
            isinstance(temperature, bool) or not isinstance(temperature, int | float)
        ):
            raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
        if temperature is not None and not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        if not callable(answer_key):
            raise TypeError(f"answer_key must be callable, got {type(answer_key).__name__}")
        self.samples = samples
        self.agree = agree
        self.selection: Selection = selection
        self.verifier = verifier
        self.fold = fold
        self.run_budget = run_budget
        self.temperature = temperature
        self.answer_key = answer_key

    # ------------------------------------------------------------------ hooks

    def before_agent(self, state: TTCAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Start the run's extra-sample count at zero."""
        return {"ttc_run_extra": 0}

    async def abefore_agent(
        self, state: TTCAgentState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async twin of ``before_agent``."""
        return {"ttc_run_extra": 0}

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ExtendedModelResponse[Any]:
        """Sample the call, group the samples, return the winner with the usage update."""
        allowed, first = self._sizes(request)
        sampled = self._prepare(request)
        outcomes: list[Any] = [self._try(handler, sampled) for _ in range(first)]
        early = self._agreed(outcomes, first)
        if not early:
            outcomes += [self._try(handler, sampled) for _ in range(allowed - first)]
        candidates, failed = self._candidates(outcomes)
        scores, verifier_tokens = self._score_sync(request, candidates)
        return self._finish(request, candidates, scores, failed, early, verifier_tokens)

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ExtendedModelResponse[Any]:
        """Async twin of ``wrap_model_call``: each round's samples run concurrently."""
        allowed, first = self._sizes(request)
        sampled = self._prepare(request)
        outcomes: list[Any] = list(
            await asyncio.gather(*(handler(sampled) for _ in range(first)), return_exceptions=True)
        )
        early = self._agreed(outcomes, first)
        if not early and allowed > first:
            outcomes += await asyncio.gather(
                *(handler(sampled) for _ in range(allowed - first)), return_exceptions=True
            )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome  # cancellation and the like: never swallowed
        candidates, failed = self._candidates(outcomes)
        scores, verifier_tokens = await self._score_async(request, candidates)
        return self._finish(request, candidates, scores, failed, early, verifier_tokens)

    # ------------------------------------------------------------------ plumbing

    def _sizes(self, request: ModelRequest[Any]) -> tuple[int, int]:
        """(samples allowed on this call, samples in the first round)."""
        allowed = self.samples
        if self.run_budget is not None:
            spent = _run_extra(request)
            allowed = min(allowed, 1 + max(0, self.run_budget - spent))
        first = allowed if self.agree is None else min(allowed, self.agree)
        return allowed, first

    def _prepare(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        if self.temperature is None:
            return request
        settings = {**request.model_settings, "temperature": self.temperature}
        return request.override(model_settings=settings)

    @staticmethod
    def _try(handler: Callable[[ModelRequest[Any]], Any], request: ModelRequest[Any]) -> Any:
        try:
            return handler(request)
        except Exception as exc:  # one bad sample does not sink the call (see the docstring)
            return exc

    def _agreed(self, outcomes: Sequence[Any], first: int) -> bool:
        """Whether the first round (more than one sample) came back whole and in agreement."""
        if first < 2 or any(isinstance(o, BaseException) for o in outcomes):
            return False
        keys = {self._key(o) for o in outcomes}
        return len(keys) == 1

    def _key(self, response: Any) -> str:
        message = _ai_message(response)
        return candidate_key(
            message, getattr(response, "structured_response", None), answer_key=self.answer_key
        )

    def _candidates(self, outcomes: Sequence[Any]) -> tuple[list[Candidate], int]:
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        ok = [o for o in outcomes if not isinstance(o, BaseException)]
        if not ok:
            raise errors[0]
        candidates = [
            Candidate(index=i, message=_ai_message(o), response=o, key=self._key(o))
            for i, o in enumerate(ok)
        ]
        return candidates, len(errors)

    def _score_sync(
        self, request: ModelRequest[Any], candidates: list[Candidate]
    ) -> tuple[list[float], int]:
        if self.selection == "confidence":
            return _confidences(candidates), 0
        if self.selection == "vote" or len({c.key for c in candidates}) == 1:
            return [1.0] * len(candidates), 0
        if _is_verifier(self.verifier):
            result = self.verifier.score(
                question_text(request.messages), [render_candidate(c.message) for c in candidates]
            )
            return self._folded(result.steps, len(candidates)), int(result.tokens)
        scores = []
        for cand in candidates:
            value = self.verifier(request.messages, cand.message)
            if inspect.isawaitable(value):
                raise TypeError("an async judge needs the async agent (ainvoke/astream)")
            scores.append(_check_score(value))
        return scores, 0

    async def _score_async(
        self, request: ModelRequest[Any], candidates: list[Candidate]
    ) -> tuple[list[float], int]:
        if self.selection != "verifier" or len({c.key for c in candidates}) == 1:
            return self._score_sync(request, candidates)
        if _is_verifier(self.verifier):
            result = await self.verifier.ascore(
                question_text(request.messages), [render_candidate(c.message) for c in candidates]
            )
            return self._folded(result.steps, len(candidates)), int(result.tokens)

        async def judge(cand: Candidate) -> float:
            value = self.verifier(request.messages, cand.message)
            return _check_score(await value if inspect.isawaitable(value) else value)

        return list(await asyncio.gather(*(judge(c) for c in candidates))), 0

    def _folded(self, steps: Sequence[Sequence[float]], count: int) -> list[float]:
        if len(steps) != count:
            raise ValueError(f"the verifier returned {len(steps)} score lists for {count} samples")
        return [fold_scores(list(s), self.fold) for s in steps]  # type: ignore[arg-type]

    def _finish(
        self,
        request: ModelRequest[Any],
        candidates: list[Candidate],
        scores: list[float],
        failed: int,
        early: bool,
        verifier_tokens: int,
    ) -> ExtendedModelResponse[Any]:
        for cand, score in zip(candidates, scores, strict=True):
            cand.score = score
        winner, groups = select(candidates)
        chosen = winner.best
        drawn = len(candidates) + failed
        tokens = _sum_usage(c.message for c in candidates)
        message = chosen.message.model_copy(
            update={
                "response_metadata": {
                    **chosen.message.response_metadata,
                    "ttc": {
                        "samples": len(candidates),
                        "failed_samples": failed,
                        "selection": self.selection,
                        "stopped_early": early,
                        "winner": winner.key,
                        "groups": [
                            {"key": g.key, "count": len(g.members), "score": round(g.total, 6)}
                            for g in groups
                        ],
                    },
                },
                **({"usage_metadata": tokens} if tokens is not None else {}),
            }
        )
        response = cast(ModelResponse[Any], chosen.response)
        result = [message if m is chosen.message else m for m in response.result]
        usage = {
            "model_calls": 1,
            "samples": drawn,
            "extra_samples": drawn - 1,
            "input_tokens": (tokens or {}).get("input_tokens", 0),
            "output_tokens": (tokens or {}).get("output_tokens", 0),
            "total_tokens": (tokens or {}).get("total_tokens", 0),
            "verifier_tokens": verifier_tokens,
            "early_stops": int(early),
            "failed_samples": failed,
        }
        spent = _run_extra(request)
        return ExtendedModelResponse(
            model_response=ModelResponse(
                result=result, structured_response=response.structured_response
            ),
            command=Command(update={"ttc_usage": usage, "ttc_run_extra": spent + drawn - 1}),
        )


def _run_extra(request: ModelRequest[Any]) -> int:
    """Extra samples the current run has spent so far."""
    state: dict[str, Any] = dict(request.state or {})
    value = state.get("ttc_run_extra") or 0
    return int(value)


def _is_verifier(obj: Any) -> bool:
    return callable(getattr(obj, "score", None)) and callable(getattr(obj, "ascore", None))


def _check_score(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, int | float) or value != value:
        raise ValueError(f"the judge must return a number, got {value!r}")
    return float(value)


def _confidences(candidates: Sequence[Candidate]) -> list[float]:
    """Each sample's token confidence; 1 (a plain vote) for a sample without logprobs."""
    out = []
    for cand in candidates:
        confidence = logprob_confidence(cand.message)
        out.append(1.0 if confidence is None else confidence)
    return out


def _ai_message(response: Any) -> AIMessage:
    if isinstance(response, AIMessage):
        raise TypeError("the model handler returned a bare AIMessage; expected a ModelResponse")
    for message in getattr(response, "result", None) or []:
        if isinstance(message, AIMessage):
            return message
    raise TypeError(f"the model call returned no AIMessage: {type(response).__name__}")


def _sum_usage(messages: Any) -> dict[str, int] | None:
    total: dict[str, int] | None = None
    for message in messages:
        usage = message.usage_metadata
        if not usage:
            continue
        total = total or {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        for key in total:
            total[key] += int(usage.get(key, 0) or 0)
    return total
