"""``revise``: one new attempt per revision chain, all chains in one call."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from langgraph_ttc.budget import cap_call, generation_usage, prompt_token_bound
from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.nodes.calls import GenerateCall, NodeLogic, completions_of, make_node
from langgraph_ttc.nodes.candidates import (
    HISTORY,
    AnswerFn,
    RevisionPromptFn,
    full_candidate,
    revision_prompt,
)
from langgraph_ttc.nodes.generate import check_not_all_empty
from langgraph_ttc.nodes.search import revision_chains
from langgraph_ttc.nodes.settings import (
    backend_error,
    budget_label,
    call_metadata,
    call_tags,
    context_of,
    derive_seed,
    emit,
    out_of_time,
    plan_of,
    usage_of,
)
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.types import GenerationRequest, Generator, add_usage

__all__ = ["make_revise_node"]


def make_revise_node(
    reviser: Generator,
    *,
    graph: str,
    extract_answer: AnswerFn,
    prompt: RevisionPromptFn = revision_prompt,
) -> Any:
    """The ``revise`` node: attempt ``round + 1`` of each of the ``n // sequential`` chains.

    Each request is the chain's ``HISTORY`` most recent attempts as a chat
    (``prompt(question, attempts)``); each attempt costs one generation.
    """

    def logic(state: TTCState, runtime: Runtime[TTCContext]) -> NodeLogic:
        ctx = context_of(runtime)
        plan = plan_of(state)
        usage = usage_of(state)
        round_ = state.get("round", 0) + 1
        count = plan.n // plan.sequential
        found = revision_chains(state.get("candidates") or [], count)
        live = [(g, c) for g, c in found.items() if g < count and len(c) == round_]
        if not live:
            return {"round": round_}
        if out_of_time(state, ctx):
            return {"status": "deadline"}
        groups = [g for g, _ in live]
        chains = [c for _, c in live]
        prompts = [prompt(state["question"], [a["text"] for a in c[-HISTORY:]]) for c in chains]
        cap = cap_call(
            ctx.budget,
            usage,
            samples=len(chains),
            max_tokens=ctx.max_tokens,
            prompt_tokens=max(prompt_token_bound(p) for p in prompts),
            params=reviser.params,
        )
        if cap.samples == 0:
            return {"status": "budget_exhausted"}
        # The first chains keep going when the budget cannot pay for all.
        groups, chains, prompts = (
            groups[: cap.samples],
            chains[: cap.samples],
            prompts[: cap.samples],
        )
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
        try:
            reply = yield GenerateCall(
                reviser,
                requests,
                run_name=f"{graph}/revise",
                tags=call_tags(ctx, graph, "revise"),
                metadata=call_metadata(plan, ctx.budget, round_, chains=groups),
            )
        except BackendError as exc:
            return backend_error(exc, f"reviser {reviser.name!r}")
        completions = completions_of(reply)
        check_not_all_empty([per[0] for per in completions], reviser)
        new = [
            full_candidate(
                f"revision-{g}-{round_}",
                per[0],
                extract_answer,
                source="revision",
                group=g,
                parent=chain[-1]["id"],
            )
            for chain, g, per in zip(chains, groups, completions, strict=True)
        ]
        spent = generation_usage(completions, params=reviser.params, generations=float(len(new)))
        limited = cap.limited_by is not None
        emit(
            runtime,
            {
                "node": "revise",
                "round": round_,
                "strategy": plan.strategy,
                "chains": len(new),
                "generations": add_usage(usage, spent)["generations"],
                "budget": budget_label(ctx.budget, plan),
            },
        )
        update: dict[str, Any] = {"candidates": new, "round": round_, "usage": spent}
        if limited:
            update["status"] = "budget_exhausted"
        return update

    return make_node("revise", logic)
