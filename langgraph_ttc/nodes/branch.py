"""``branch``: extend the kept paths of a tree search by one step, all in one call.

Which slots each kept path's children fill is the strategy's ``expand`` rule
(beam search refills the whole frontier, DVTS only a subtree's own slots).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langgraph_ttc.budget import prompt_token_bound
from langgraph_ttc.engine.calls import GenerateCall
from langgraph_ttc.engine.candidates import AnswerFn, PromptFn, extend_path, prefix_of
from langgraph_ttc.engine.driver import NodeLogic, NodeRun, make_node
from langgraph_ttc.engine.settings import (
    budget_label,
    call_metadata,
    derive_seed,
    plan_of,
    step_delimiter_of,
)
from langgraph_ttc.engine.tree import archive, slot_id, slots
from langgraph_ttc.state import TTCState
from langgraph_ttc.types import Candidate, GenerationRequest, Generator, StrategyConfig

__all__ = ["ExpandRule", "make_branch_node"]

ExpandRule = Callable[[Sequence[Candidate], StrategyConfig, int], list[tuple[Candidate, list[int]]]]
"""``(frontier, plan, seed) -> [(kept path, slots its children fill), ...]``.

``seed`` is the run's seed (``context.seed``), as for a ``KeepRule``.
"""


def make_branch_node(
    generator: Generator,
    *,
    graph: str,
    source: str,
    expand: ExpandRule,
    extract_answer: AnswerFn,
    prompt: PromptFn,
) -> Any:
    """The ``branch`` node: one adapter call with one request per kept path.

    A step ends at the run's step delimiter (``stop=(delimiter,)``,
    ``max_tokens=context.step_max_tokens``, ``prefix`` = the path so far,
    ending with the delimiter). The last round (``max_rounds - 1``) runs each
    path to its end instead. Extending a path costs no generations (the path
    was paid for when its slot opened); tokens and FLOPs count as spent. A
    round is all or nothing: a half-expanded frontier is no tree search.
    """

    def logic(state: TTCState, run: NodeRun) -> NodeLogic:
        ctx, plan, delimiter = run.ctx, plan_of(state), step_delimiter_of(state)
        round_ = state.get("round", 0) + 1
        final = round_ >= plan.max_rounds - 1
        frontier = slots(state.get("candidates") or [], source)
        plan_slots = expand(frontier, plan, ctx.seed)
        want = sum(len(idx) for _, idx in plan_slots)
        if want == 0:
            return {}
        msgs = prompt(state["question"])
        cap = run.cap(
            samples=want,
            max_tokens=ctx.max_tokens if final else ctx.step_max_tokens,
            prompt_tokens=max(
                prompt_token_bound(msgs, prefix_of(p["steps"], delimiter)) for p, _ in plan_slots
            ),
            params=generator.params,
            generations_per_sample=0.0,
            whole=True,
        )
        requests = [
            GenerationRequest(
                prompt=msgs,
                prefix=prefix_of(parent["steps"], delimiter),
                n=len(idx),
                max_tokens=cap.max_tokens,
                temperature=plan.temperature,
                stop=() if final else (delimiter,),
                seed=derive_seed(ctx.seed, "branch", round_, j),
            )
            for j, (parent, idx) in enumerate(plan_slots)
        ]
        completions = yield GenerateCall(
            generator,
            requests,
            run_name=f"{graph}/branch",
            tags=run.tags(graph, "branch"),
            metadata=call_metadata(
                plan, ctx.budget, round_, parents=[p["id"] for p, _ in plan_slots], final=final
            ),
        )
        by_slot = {c.get("slot"): c for c in frontier}
        archived: list[Candidate] = []
        children: list[Candidate] = []
        for (parent, idx), per in zip(plan_slots, completions, strict=True):
            # A request that lost samples (status "partial") fills fewer slots.
            for i, comp in zip(idx, per, strict=False):
                old = by_slot.get(i)
                if old is not None and old.get("done"):
                    archived.append(archive(old, round_))
                children.append(
                    extend_path(
                        slot_id(source, i),
                        parent["steps"],
                        comp,
                        extract_answer,
                        source=source,
                        final=final,
                        group=parent.get("group"),
                        parent=parent["id"],
                        slot=i,
                        round_=round_,
                        delimiter=delimiter,
                    )
                )
        run.emit(
            {
                "node": "branch",
                "round": round_,
                "strategy": plan.strategy,
                "expansions": len(children),
                "finished": sum(1 for c in children if c["done"]),
                "generations": run.usage["generations"],
                "tokens": run.usage["generated_tokens"],
                "budget": budget_label(ctx.budget, plan),
            }
        )
        update: dict[str, Any] = {"candidates": archived + children, "round": round_}
        if cap.limited_by is not None:
            # The cap cut the steps short: this round spent the rest of the budget.
            update["status"] = "budget_exhausted"
        return update

    return make_node("branch", logic)
