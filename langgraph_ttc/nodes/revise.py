"""``revise``: one new attempt per live revision chain, all chains in one call.

Which chains are live, and what they hold, is the strategy's ``chains`` rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langgraph_ttc.budget import prompt_token_bound
from langgraph_ttc.engine.calls import GenerateCall, check_not_all_empty
from langgraph_ttc.engine.candidates import (
    HISTORY,
    AnswerFn,
    RevisionPromptFn,
    full_candidate,
    revision_prompt,
)
from langgraph_ttc.engine.driver import NodeLogic, NodeRun, make_node
from langgraph_ttc.engine.settings import (
    budget_label,
    call_metadata,
    derive_seed,
    plan_of,
    step_delimiter_of,
)
from langgraph_ttc.state import TTCState
from langgraph_ttc.types import Candidate, GenerationRequest, Generator, StrategyConfig

__all__ = ["ChainRule", "make_revise_node"]

ChainRule = Callable[[StrategyConfig, Sequence[Candidate], int], dict[int, list[Candidate]]]
"""``(plan, candidates, round) -> {chain index: attempts so far}`` for the chains to extend."""


def make_revise_node(
    reviser: Generator,
    *,
    graph: str,
    chains: ChainRule,
    extract_answer: AnswerFn,
    prompt: RevisionPromptFn = revision_prompt,
) -> Any:
    """The ``revise`` node: attempt ``round + 1`` of each live chain.

    Each request is the chain's ``HISTORY`` most recent attempts as a chat
    (``prompt(question, attempts)``); each attempt costs one generation. When
    the budget cannot pay for every chain, the first chains keep going.
    """

    def logic(state: TTCState, run: NodeRun) -> NodeLogic:
        ctx, plan = run.ctx, plan_of(state)
        round_ = state.get("round", 0) + 1
        live = list(chains(plan, state.get("candidates") or [], round_).items())
        if not live:
            return {"round": round_}
        prompts = [prompt(state["question"], [a["text"] for a in c[-HISTORY:]]) for _, c in live]
        cap = run.cap(
            samples=len(live),
            max_tokens=ctx.max_tokens,
            prompt_tokens=max(prompt_token_bound(p) for p in prompts),
            params=reviser.params,
        )
        live, prompts = live[: cap.samples], prompts[: cap.samples]
        groups = [g for g, _ in live]
        requests = [
            GenerationRequest(
                prompt=p,
                n=1,
                max_tokens=cap.max_tokens,
                temperature=plan.temperature,
                seed=derive_seed(ctx.seed, "revise", round_, g),
            )
            for p, g in zip(prompts, groups, strict=True)
        ]
        completions = yield GenerateCall(
            reviser,
            requests,
            run_name=f"{graph}/revise",
            tags=run.tags(graph, "revise"),
            metadata=call_metadata(plan, ctx.budget, round_, chains=groups),
            generations=float(len(requests)),
            role="reviser",
        )
        check_not_all_empty([c for per in completions for c in per], reviser)
        new = [
            full_candidate(
                f"revision-{g}-{round_}",
                per[0],
                extract_answer,
                source="revision",
                group=g,
                parent=chain[-1]["id"],
                delimiter=step_delimiter_of(state),
            )
            for (g, chain), per in zip(live, completions, strict=True)
            if per  # a chain whose request failed for good (status "partial") gets no attempt
        ]
        run.emit(
            {
                "node": "revise",
                "round": round_,
                "strategy": plan.strategy,
                "chains": len(new),
                "generations": run.usage["generations"],
                "budget": budget_label(ctx.budget, plan),
            }
        )
        update: dict[str, Any] = {"candidates": new, "round": round_}
        if cap.limited_by is not None:
            update["status"] = "budget_exhausted"
        return update

    return make_node("revise", logic)
