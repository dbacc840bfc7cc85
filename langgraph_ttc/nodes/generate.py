"""``generate``: draw a strategy's first samples (full solutions or first steps) in one call.

The node is generic: how many samples, what they cost, how they group into
requests and what candidate each becomes is the strategy's :class:`Sampling`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph_ttc.budget import prompt_token_bound
from langgraph_ttc.engine.calls import GenerateCall, check_not_all_empty
from langgraph_ttc.engine.candidates import PromptFn, question_prompt
from langgraph_ttc.engine.driver import NodeLogic, NodeRun, make_node
from langgraph_ttc.engine.settings import (
    budget_label,
    call_metadata,
    derive_seed,
    plan_of,
    step_delimiter_of,
)
from langgraph_ttc.state import TTCState
from langgraph_ttc.types import Candidate, Completion, GenerationRequest, Generator, StrategyConfig

__all__ = ["Sampling", "make_generate_node", "one_request"]


def one_request(plan: StrategyConfig, samples: int) -> list[list[int]]:
    """All samples in one request."""
    return [list(range(samples))]


def _plan_temperature(plan: StrategyConfig) -> float:
    return plan.temperature


def _one_generation(plan: StrategyConfig) -> float:
    return 1.0


@dataclass(frozen=True)
class Sampling:
    """How a strategy draws its first samples.

    Attributes:
        wanted: ``(plan, candidates) -> (new, reused)``: samples to draw, and
            finished ones already in the state that count as samples.
        build: ``(plan, index, width, completion, delimiter) -> Candidate``:
            the candidate sample ``index`` (counting the reused ones) becomes;
            ``width`` is the number of new samples drawn, ``delimiter`` the
            run's step delimiter (where the candidate's steps are cut).
        steps: Draw first steps (stop at the step delimiter) instead of full solutions.
        cost: Generations one sample costs.
        groups: Sample indices per request (one request by default).
        temperature: The sampling temperature.
    """

    wanted: Callable[[StrategyConfig, Sequence[Candidate]], tuple[int, int]]
    build: Callable[[StrategyConfig, int, int, Completion, str], Candidate]
    steps: bool = False
    cost: Callable[[StrategyConfig], float] = _one_generation
    groups: Callable[[StrategyConfig, int], list[list[int]]] = one_request
    temperature: Callable[[StrategyConfig], float] = _plan_temperature


def make_generate_node(
    generator: Generator,
    *,
    graph: str,
    sampling: Sampling,
    prompt: PromptFn = question_prompt,
) -> Any:
    """The ``generate`` node: one adapter call for all first samples.

    A sample cut short by the budget ends the run (``budget_exhausted``), but
    a narrower tree-search frontier is still a whole search.
    """

    def logic(state: TTCState, run: NodeRun) -> NodeLogic:
        ctx, plan, delimiter = run.ctx, plan_of(state), step_delimiter_of(state)
        # A strategy that samples in rounds comes back here with the state's round bumped.
        round_ = state.get("round", 0)
        want, reused = sampling.wanted(plan, state.get("candidates") or [])
        if want == 0:
            return {}
        final = sampling.steps and plan.max_rounds <= 1
        stepwise = sampling.steps and not final
        per_sample = sampling.cost(plan)
        msgs = prompt(state["question"])
        cap = run.cap(
            samples=want,
            max_tokens=ctx.step_max_tokens if stepwise else ctx.max_tokens,
            prompt_tokens=prompt_token_bound(msgs),
            params=generator.params,
            generations_per_sample=per_sample,
        )
        groups = sampling.groups(plan, cap.samples)
        requests = [
            GenerationRequest(
                prompt=msgs,
                n=len(members),
                max_tokens=cap.max_tokens,
                temperature=sampling.temperature(plan),
                stop=(delimiter,) if stepwise else (),
                seed=derive_seed(ctx.seed, "generate", round_, g),
                # A vote weighted by the model's own confidence needs token logprobs.
                logprobs=plan.selection == "confidence",
            )
            for g, members in enumerate(groups)
        ]
        completions = yield GenerateCall(
            generator,
            requests,
            run_name=f"{graph}/generate",
            tags=run.tags(graph, "generate"),
            metadata=call_metadata(
                plan,
                ctx.budget,
                round_,
                samples=[reused, reused + cap.samples],
                mode="step" if sampling.steps else "full",
            ),
            generations=cap.samples * per_sample,
        )
        check_not_all_empty([c for per in completions for c in per], generator)
        # A request that lost samples (status "partial") has fewer: its first members get them.
        new = [
            sampling.build(plan, reused + i, cap.samples, comp, delimiter)
            for members, per in zip(groups, completions, strict=True)
            for i, comp in zip(members, per, strict=False)
        ]
        # A narrower frontier is still a whole search; a cut token allowance is not.
        cut = cap.limited_by is not None and not (
            sampling.steps and cap.limited_by == "generations"
        )
        run.emit(
            {
                "node": "generate",
                "round": round_,
                "strategy": plan.strategy,
                "samples": len(new),
                "generations": run.usage["generations"],
                "budget": budget_label(ctx.budget, plan),
            }
        )
        return {"candidates": new, "status": "budget_exhausted" if cut else "running"}

    return make_node("generate", logic)
