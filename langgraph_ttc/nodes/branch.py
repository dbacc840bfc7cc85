"""``branch``: extend every kept path by one step, all expansions in one call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.runtime import Runtime

from langgraph_ttc.budget import cap_call, generation_usage, prompt_token_bound
from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.nodes.calls import GenerateCall, NodeLogic, completions_of, make_node
from langgraph_ttc.nodes.candidates import (
    AnswerFn,
    PromptFn,
    extend_path,
    prefix_of,
    question_prompt,
)
from langgraph_ttc.nodes.search import allocate, archive_id, slot_index, slots
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
from langgraph_ttc.types import Candidate, GenerationRequest, Generator, StrategyConfig, add_usage

__all__ = ["assign_slots", "make_branch_node"]


def assign_slots(
    frontier: Sequence[Candidate], plan: StrategyConfig, source: str
) -> list[tuple[Candidate, list[int]]]:
    """Which slots each kept path's children fill.

    Beam search refills the whole frontier from the kept paths (N/M paths, M
    children each), as search-and-learn does; DVTS refills only the slots of
    each kept path's own subtree, so subtrees never mix.
    """
    kept = [c for c in frontier if c.get("active") and not c.get("done")]
    if plan.strategy == "dvts":
        out = []
        for parent in kept:
            g = parent.get("group", 0)
            members = [slot_index(c, source) for c in frontier if c.get("group", 0) == g]
            out.append((parent, sorted(i for i in members if i is not None)))
        return out
    order = sorted(kept, key=lambda c: -(c.get("score") or 0.0))
    counts = allocate(len(order), len(frontier))
    out, start = [], 0
    for parent, count in zip(order, counts, strict=True):
        out.append((parent, list(range(start, start + count))))
        start += count
    return out


def make_branch_node(
    generator: Generator,
    *,
    graph: str,
    source: str,
    extract_answer: AnswerFn,
    prompt: PromptFn = question_prompt,
) -> Any:
    """The ``branch`` node: one adapter call with one request per kept path.

    Steps are lines (``stop=("\\n",)``, ``max_tokens=context.step_max_tokens``,
    ``prefix`` = the path so far). The last round (``max_rounds - 1``) runs each
    path to its end instead. Extending a path costs no generations (the path
    was paid for when its slot opened); tokens and FLOPs count as spent.
    """

    def logic(state: TTCState, runtime: Runtime[TTCContext]) -> NodeLogic:
        ctx = context_of(runtime)
        plan = plan_of(state)
        usage = usage_of(state)
        cands = list(state.get("candidates") or [])
        round_ = state.get("round", 0) + 1
        final = round_ >= plan.max_rounds - 1
        frontier = slots(cands, source)
        plan_slots = assign_slots(frontier, plan, source)
        want = sum(len(idx) for _, idx in plan_slots)
        if want == 0:
            return {}
        if out_of_time(state, ctx):
            return {"status": "deadline"}
        msgs = prompt(state["question"])
        cap = cap_call(
            ctx.budget,
            usage,
            samples=want,
            max_tokens=ctx.max_tokens if final else ctx.step_max_tokens,
            prompt_tokens=max(
                prompt_token_bound(msgs, prefix_of(p["steps"])) for p, _ in plan_slots
            ),
            params=generator.params,
            generations_per_sample=0.0,
        )
        if cap.samples < want:
            # A round is all or nothing: a half-expanded frontier is no beam search.
            return {"status": "budget_exhausted"}
        requests = [
            GenerationRequest(
                prompt=msgs,
                prefix=prefix_of(parent["steps"]),
                n=len(idx),
                max_tokens=cap.max_tokens,
                temperature=plan.temperature,
                stop=() if final else (STEP_DELIMITER,),
                seed=derive_seed(ctx.seed, "branch", round_, j),
            )
            for j, (parent, idx) in enumerate(plan_slots)
        ]
        try:
            reply = yield GenerateCall(
                generator,
                requests,
                run_name=f"{graph}/branch",
                tags=call_tags(ctx, graph, "branch"),
                metadata=call_metadata(
                    plan, ctx.budget, round_, parents=[p["id"] for p, _ in plan_slots], final=final
                ),
            )
        except BackendError as exc:
            return backend_error(exc, f"generator {generator.name!r}")
        completions = completions_of(reply)
        by_index = {slot_index(c, source): c for c in frontier}
        archived: list[Candidate] = []
        children: list[Candidate] = []
        for (parent, idx), per in zip(plan_slots, completions, strict=True):
            for i, comp in zip(idx, per, strict=True):
                old = by_index.get(i)
                if old is not None and old.get("done"):
                    archived.append({**old, "id": archive_id(source, i, round_), "active": False})
                children.append(
                    extend_path(
                        f"{source}-{i}",
                        parent["steps"],
                        comp,
                        extract_answer,
                        source=source,
                        final=final,
                        group=parent.get("group"),
                        parent=parent["id"],
                    )
                )
        spent = generation_usage(completions, params=generator.params, generations=0.0)
        emit(
            runtime,
            {
                "node": "branch",
                "round": round_,
                "strategy": plan.strategy,
                "expansions": len(children),
                "finished": sum(1 for c in children if c["done"]),
                "generations": add_usage(usage, spent)["generations"],
                "tokens": add_usage(usage, spent)["generated_tokens"],
                "budget": budget_label(ctx.budget, plan),
            },
        )
        update = {"candidates": archived + children, "round": round_, "usage": spent}
        if cap.limited_by is not None:
            # The cap cut the steps short: this round spent the rest of the budget.
            update["status"] = "budget_exhausted"
        return update

    return make_node("branch", logic)
