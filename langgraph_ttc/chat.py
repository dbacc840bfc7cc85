"""``ChatTTC``: a TTC graph behind LangChain's chat-model interface.

With it, test-time compute drops into anything that takes a chat model: an
LCEL chain (``prompt | ChatTTC() | StrOutputParser()``), a LangGraph node
that calls ``model.invoke(messages)``, a LangSmith experiment.

The last human message is the question. The reply is an ``AIMessage`` whose
content is the solution text of the best candidate for the selected answer
(``output="solution"``, the default) or the bare answer (``output="answer"``).
``response_metadata`` carries the answer, confidence, strategy, difficulty,
plan, usage and status; ``usage_metadata`` carries the generator's tokens
(all samples, probes included).

It streams (``stream``, ``astream``, ``stream_events(version="v3")``): while
the search runs, each progress event of the graph (``route``, ``generate``,
``verify``, ... on LangGraph's custom stream) arrives as an empty-content
``AIMessageChunk`` carrying one line of reasoning in
``additional_kwargs["reasoning_content"]``, LangChain's convention for
reasoning text, which ``content_blocks`` and the v3 events read as a
``reasoning`` block; the last chunk carries the reply text, the metadata and
``usage_metadata`` (``chunk_position="last"``). The selected solution is
only known when the search ends, so the text comes in one piece. ``invoke``
returns what the stream adds up to: the reply plus the search's log.

With no ``generator`` and no ``graph`` it runs the bundled models, which
answer one task only (``langgraph_ttc.suite.task``): any other question
raises ``ValueError`` from ``invoke``/``stream`` (one line: the problem,
what the bundled models answer, and how to bring your own model), as a
chat model raises on input it cannot take. With your own generator or graph,
any question goes.

It does not call tools (``bind_tools`` is not supported): in
``langchain.agents.create_agent`` it works as a tool-less agent's model; for
an agent that also uses tools, run the TTC graph as a subgraph node (see
``examples/agent_subgraph.py``).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.language_models.chat_models import (
    agenerate_from_stream,
    generate_from_stream,
)
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig
from pydantic import ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator

from langgraph_ttc.answers import answers_equal
from langgraph_ttc.types import STRATEGIES, Budget, Candidate

__all__ = ["ChatTTC", "best_solution", "describe_progress", "question_of"]

# Progress events and root states (which hold more than TTCOutput: plan, error).
_STREAM = {"stream_mode": ["custom", "values"], "subgraphs": True, "version": "v2"}

_OWN_MODEL_HINT = (
    "to ask anything else, bring your own model: ChatTTC(generator=..., verifier=...) "
    "or ChatTTC(graph=...)"
)


class ChatTTC(BaseChatModel):
    """A chat model that answers with test-time compute.

    Build it from models, from a compiled graph, or from nothing (the bundled
    models, loaded on first use)::

        ChatTTC()                                   # bundled policy, PRM, reviser (task only)
        ChatTTC(generator=gen, verifier=prm)        # routed by ComputePolicy
        ChatTTC(graph=create_best_of_n_graph(gen, verifier=prm).compile())

    Per call, ``budget``, ``strategy`` and ``seed`` can be overridden through
    ``model.bind(budget=64)`` or ``invoke(..., budget=64)``.

    Attributes:
        generator: Policy model (``Generator``); ignored when ``graph`` is given.
        verifier: Verifier for the router and the search strategies.
        reviser: Revision model for the ``revise`` strategy.
        policy: ``ComputePolicy`` for the router; the shipped default when unset.
        graph: A compiled TTC graph (state ``TTCState``, context ``TTCContext``).
        budget: Generations per question (probes included).
        strategy: ``auto`` (route by difficulty) or a strategy name to force.
        seed: Base seed of every call, so replies are reproducible.
        max_tokens: Cap on tokens per solution.
        timeout: Wall-clock limit per call in seconds (``TTCContext.deadline_s``):
            the run stops and answers with what it has.
        output: ``solution`` (the best candidate's text) or ``answer``.
        stop: Default stop sequences: the reply is cut before the first one
            (the search itself runs in full); a call's ``stop`` replaces them.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    generator: Any = Field(default=None, exclude=True)
    verifier: Any = Field(default=None, exclude=True)
    reviser: Any = Field(default=None, exclude=True)
    policy: Any = Field(default=None, exclude=True)
    graph: Any = Field(default=None, exclude=True)
    budget: int = 16
    strategy: str = "auto"
    seed: int = 0
    max_tokens: int = 256
    timeout: float | None = None
    output: Literal["solution", "answer"] = "solution"
    stop: list[str] | None = None

    _compiled: Any = PrivateAttr(default=None)
    _build_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @field_validator("budget", "max_tokens")
    @classmethod
    def _positive(cls, value: int, info: ValidationInfo) -> int:
        return _check_positive(value, info.field_name or "value")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        return _check_strategy(value)

    @property
    def _llm_type(self) -> str:
        return "langgraph-ttc"

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float | None) -> float | None:
        if value is not None and not value > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {value!r}")
        return value

    @property
    def model_name(self) -> str:
        """The policy model's name (``bundled`` for the default models, ``graph`` for a graph)."""
        if self.graph is not None:
            return str(getattr(self.graph, "name", None) or "graph")
        return str(getattr(self.generator, "name", None) or "bundled")

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "langgraph-ttc"
        params["ls_model_name"] = str(kwargs.get("model") or self.model_name)
        params["ls_max_tokens"] = self.max_tokens
        if self.stop and "ls_stop" not in params:
            params["ls_stop"] = self.stop
        return params

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "generator": getattr(self.generator, "name", None),
            "verifier": getattr(self.verifier, "name", None),
            "budget": self.budget,
            "strategy": self.strategy,
            "seed": self.seed,
        }

    # ------------------------------------------------------------------ plumbing

    def _get_graph(self) -> Any:
        if self.graph is not None:
            return self.graph
        with self._build_lock:  # concurrent first calls (batch) build one graph, one model set
            if self._compiled is None:
                self._compiled = self._build_graph()
        return self._compiled

    def _build_graph(self) -> Any:
        """The compute-optimal graph on the given models, or on the bundled ones."""
        from langgraph_ttc.strategies.compute_optimal import create_ttc_graph

        generator, verifier, reviser = self.generator, self.verifier, self.reviser
        if generator is None:
            from langgraph_ttc.defaults import load_bundled

            generator, bundled_verifier, bundled_reviser = load_bundled()
            verifier = verifier or bundled_verifier
            reviser = reviser or bundled_reviser
        return create_ttc_graph(
            generator, verifier=verifier, reviser=reviser, policy=self.policy
        ).compile(name="ttc")

    def _prepare(
        self, messages: list[BaseMessage], kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], Any]:
        from langgraph_ttc.router import default_plan
        from langgraph_ttc.state import TTCContext

        unknown = set(kwargs) - {"budget", "strategy", "seed"}
        if unknown:
            raise TypeError(f"ChatTTC got unexpected call options: {sorted(unknown)}")
        budget = _check_positive(kwargs.get("budget", self.budget), "budget")
        strategy = _check_strategy(kwargs.get("strategy", self.strategy))
        seed = kwargs.get("seed", self.seed)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        plan = None if strategy == "auto" else default_plan(strategy, budget)
        context = TTCContext(
            seed=seed,
            budget=Budget(generations=budget),
            plan=plan,
            max_tokens=self.max_tokens,
            deadline_s=self.timeout,
        )
        question = question_of(messages)
        if self.graph is None and self.generator is None:
            # The bundled policy answers one grammar: refuse the rest before loading it.
            from langgraph_ttc.suite.task import check_question_in_task

            question = check_question_in_task(question, hint=_OWN_MODEL_HINT)
        return {"question": question}, context

    def _last_chunk(self, state: dict[str, Any], stop: list[str] | None) -> ChatGenerationChunk:
        """The reply: text, metadata and usage, as the stream's last chunk."""
        answer = state.get("answer")
        if self.output == "answer":
            text = answer or ""
        else:
            best = best_solution(state.get("candidates") or [], answer)
            text = best["text"] if best is not None else (answer or no_answer_text(state))
        stop = stop or self.stop
        if stop:
            cut = min((i for s in stop if (i := text.find(s)) >= 0), default=len(text))
            text = text[:cut]
        usage = dict(state.get("usage") or {})
        metadata = {
            "answer": answer,
            "confidence": state.get("confidence"),
            "strategy": state.get("strategy"),
            "difficulty": state.get("difficulty"),
            "plan": state.get("plan"),
            "usage": usage,
            "status": state.get("status"),
            "error": state.get("error"),
            "warnings": list(state.get("warnings") or []),
            "policy": state.get("policy"),
            "model_name": self.model_name,
        }
        prompt_tokens = int(usage.get("prompt_tokens", 0))
        generated = int(usage.get("generated_tokens", 0))
        message = AIMessageChunk(
            content=text,
            response_metadata=metadata,
            usage_metadata=UsageMetadata(
                input_tokens=prompt_tokens,
                output_tokens=generated,
                total_tokens=prompt_tokens + generated,
            ),
            chunk_position="last",
        )
        return ChatGenerationChunk(message=message)

    # ------------------------------------------------------------------ BaseChatModel

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        inputs, context = self._prepare(messages, kwargs)
        root = _RootState()
        parts = self._get_graph().stream(
            inputs, _child_config(run_manager), context=context, **_STREAM
        )
        for part in parts:
            chunk = _progress_chunk(part)
            if chunk is not None:
                yield chunk
            else:
                root.see(part)
        yield self._last_chunk(root.state, stop)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        inputs, context = self._prepare(messages, kwargs)
        root = _RootState()
        parts = self._get_graph().astream(
            inputs, _child_config(run_manager), context=context, **_STREAM
        )
        async for part in parts:
            chunk = _progress_chunk(part)
            if chunk is not None:
                yield chunk
            else:
                root.see(part)
        yield self._last_chunk(root.state, stop)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # One path: the reply is what the stream adds up to.
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))


class _RootState:
    """The last state of the graph itself, among its subgraphs' states.

    The graph's own ``values`` parts have the shortest namespace: empty at the
    top level, the caller's node when ChatTTC runs inside another graph.
    """

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        self._depth: int | None = None

    def see(self, part: Mapping[str, Any]) -> None:
        data = part.get("data")
        if part.get("type") != "values" or not isinstance(data, dict):
            return
        depth = len(part.get("ns") or ())
        if self._depth is None or depth <= self._depth:
            self._depth, self.state = depth, data


def _progress_chunk(part: Mapping[str, Any]) -> ChatGenerationChunk | None:
    """A progress event as an empty-content chunk with one line of reasoning."""
    event = part.get("data")
    if part.get("type") != "custom" or not isinstance(event, Mapping):
        return None
    line = describe_progress(event) + "\n"
    return ChatGenerationChunk(
        message=AIMessageChunk(content="", additional_kwargs={"reasoning_content": line})
    )


def describe_progress(event: Mapping[str, Any]) -> str:
    """One line for a progress event of a TTC graph (the custom stream).

    For example ``route: difficulty 2 of 5, 4 probes, strategy beam [4/16 generations]``
    or ``select: answer 33 (confidence 0.75), status done [16/16 generations]``.
    Keys a node does not send are left out; an unknown node shows its name
    and the generations.
    """
    node = str(event.get("node") or "progress")
    details: list[str] = []
    if event.get("round"):
        details.append(f"round {event['round']}")
    if node == "route":
        if event.get("difficulty") is not None:
            details.append(f"difficulty {event['difficulty']} of 5")
        if event.get("probes"):
            details.append(f"{event['probes']} probes")
    for key, label in _COUNTS:
        value = event.get(key)
        if isinstance(value, list):
            value = len(value)
        if isinstance(value, int) and not isinstance(value, bool):
            details.append(label.format(value))
    if node in ("route", "prepare") and event.get("strategy"):
        details.append(f"strategy {event['strategy']}")
    if node == "select":
        confidence = event.get("confidence")
        shown = f" (confidence {confidence:.2f})" if isinstance(confidence, float) else ""
        details.append(f"answer {event.get('answer')}{shown}, status {event.get('status')}")
    gens, budget = event.get("generations"), event.get("budget")
    spent = ""
    if isinstance(gens, int | float):
        cap = f"/{budget:g}" if isinstance(budget, int | float) else ""
        spent = f" [{gens:g}{cap} generations]"
    return f"{node}: {', '.join(details)}{spent}" if details else f"{node}{spent}"


# Counts a node reports, in the order they read best.
_COUNTS = (
    ("samples", "{} samples"),
    ("expansions", "{} expansions"),
    ("chains", "{} revision chains"),
    ("rolled_out", "{} rollouts"),
    ("scored", "{} scored"),
    ("kept", "{} kept"),
    ("finished", "{} finished"),
)


def _child_config(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
) -> RunnableConfig:
    """Callbacks that nest the graph's runs under this chat-model run.

    A chat-model run manager has no ``get_child`` (model runs are usually
    leaves); this does what ``ParentRunManager.get_child`` does.
    """
    if run_manager is None:
        return {}
    manager: CallbackManager | AsyncCallbackManager
    if isinstance(run_manager, AsyncCallbackManagerForLLMRun):
        manager = AsyncCallbackManager(handlers=[], parent_run_id=run_manager.run_id)
    else:
        manager = CallbackManager(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return {"callbacks": manager}


def _check_positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_strategy(value: object) -> str:
    name = value.replace("-", "_") if isinstance(value, str) else value
    if name != "auto" and name not in STRATEGIES:
        raise ValueError(f"strategy must be auto or one of {', '.join(STRATEGIES)}; got {value!r}")
    assert isinstance(name, str)
    return name


def question_of(messages: Sequence[BaseMessage]) -> str:
    """The text of the last human message.

    Raises:
        ValueError: If there is no human message, or it holds no text.
    """
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            text = message.text.strip()
            if not text:
                raise ValueError("the last human message holds no text: nothing to answer")
            return text
    raise ValueError("ChatTTC needs a human message: the last one is the question")


def no_answer_text(state: dict[str, Any]) -> str:
    """The reply of a run that produced no answer: says so and why, never a guess.

    A chat reply, unlike ``output="answer"``, is read by people and agents; an
    empty one would look like a model that said nothing.
    """
    status = state.get("status") or "no answer"
    error = state.get("error")
    return f"No answer ({status}{': ' + str(error) if error else ''})."


def best_solution(candidates: Sequence[Candidate], answer: str | None) -> Candidate | None:
    """The highest-scoring candidate whose answer equals ``answer``.

    Unscored candidates rank below scored ones; ties keep the earliest. Returns
    ``None`` when ``answer`` is ``None`` or no candidate has it.
    """
    if answer is None:
        return None
    best: Candidate | None = None
    for cand in candidates:
        cand_answer = cand.get("answer")
        if cand_answer is None or not answers_equal(cand_answer, answer):
            continue
        if best is None or _rank(cand) > _rank(best):
            best = cand
    return best


def _rank(cand: Candidate) -> float:
    score = cand.get("score")
    return -1.0 if score is None else float(score)
