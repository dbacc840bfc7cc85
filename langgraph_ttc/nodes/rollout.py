"""``rollout``: lookahead search's scoring, a greedy rollout of k steps, then the PRM.

Each new unfinished path is continued greedily (temperature 0) for up to
``plan.lookahead`` steps, one batched adapter call per lookahead step, and
scored by the verifier at the end of its rollout (one ``score`` call). The
rollout only scores the path: it is not kept. Finished paths need no rollout
and are left to ``verify``.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from langgraph_ttc.budget import cap_call, generation_usage, prompt_token_bound, verifier_usage
from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.nodes.calls import GenerateCall, NodeLogic, ScoreCall, completions_of, make_node
from langgraph_ttc.nodes.candidates import (
    AnswerFn,
    PromptFn,
    prefix_of,
    question_prompt,
    split_lines,
)
from langgraph_ttc.nodes.search import slots
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
from langgraph_ttc.nodes.verify import check_scores, verifier_budget_left
from langgraph_ttc.state import TTCContext, TTCState
from langgraph_ttc.types import (
    Candidate,
    GenerationRequest,
    Generator,
    Usage,
    Verifier,
    add_usage,
    empty_usage,
    fold_scores,
)

__all__ = ["make_rollout_node"]


def make_rollout_node(
    generator: Generator,
    verifier: Verifier,
    *,
    graph: str,
    source: str,
    extract_answer: AnswerFn,
    prompt: PromptFn = question_prompt,
) -> Any:
    """The ``rollout`` node of lookahead search (a no-op when ``lookahead == 0``)."""

    def logic(state: TTCState, runtime: Runtime[TTCContext]) -> NodeLogic:
        ctx = context_of(runtime)
        plan = plan_of(state)
        round_ = state.get("round", 0)
        targets = [
            c
            for c in slots(state.get("candidates") or [], source)
            if c.get("active") and not c["done"] and c.get("score") is None
        ]
        if plan.lookahead == 0 or not targets:
            return {}
        question = state["question"]
        msgs = prompt(question)
        spent: Usage = empty_usage()
        rolls: list[list[str]] = [[] for _ in targets]
        alive = list(range(len(targets)))
        for depth in range(plan.lookahead):
            if out_of_time(state, ctx):
                return {"status": "deadline", "usage": spent}
            prefixes = [prefix_of([*targets[i]["steps"], *rolls[i]]) for i in alive]
            cap = cap_call(
                ctx.budget,
                add_usage(usage_of(state), spent),
                samples=len(alive),
                max_tokens=ctx.step_max_tokens,
                prompt_tokens=max(prompt_token_bound(msgs, p) for p in prefixes),
                params=generator.params,
                generations_per_sample=0.0,
            )
            if cap.samples < len(alive):
                return {"status": "budget_exhausted", "usage": spent}
            requests = [
                GenerationRequest(
                    prompt=msgs,
                    prefix=p,
                    n=1,
                    max_tokens=cap.max_tokens,
                    temperature=0.0,
                    stop=(STEP_DELIMITER,),
                    seed=derive_seed(ctx.seed, f"rollout{depth}", round_, i),
                )
                for i, p in zip(alive, prefixes, strict=True)
            ]
            try:
                reply = yield GenerateCall(
                    generator,
                    requests,
                    run_name=f"{graph}/rollout",
                    tags=call_tags(ctx, graph, "rollout"),
                    metadata=call_metadata(plan, ctx.budget, round_, depth=depth + 1),
                )
            except BackendError as exc:
                return {**backend_error(exc, f"generator {generator.name!r}"), "usage": spent}
            completions = completions_of(reply)
            spent = add_usage(
                spent, generation_usage(completions, params=generator.params, generations=0.0)
            )
            still: list[int] = []
            for i, per in zip(alive, completions, strict=True):
                new = split_lines(per[0].text)
                rolls[i].extend(new)
                ends = (
                    not new
                    or per[0].finish_reason == "length"
                    or extract_answer(STEP_DELIMITER.join(new)) is not None
                )
                if not ends:
                    still.append(i)
            alive = still
            if not alive:
                break
        texts = [
            STEP_DELIMITER.join([*c["steps"], *r]) for c, r in zip(targets, rolls, strict=True)
        ]
        if out_of_time(state, ctx):
            return {"status": "deadline", "usage": spent}
        if not verifier_budget_left(state, ctx, question, texts):
            return {"status": "budget_exhausted", "usage": spent}
        try:
            result = yield ScoreCall(
                verifier,
                question,
                texts,
                run_name=f"{graph}/verify",
                tags=call_tags(ctx, graph, "rollout"),
                metadata=call_metadata(plan, ctx.budget, round_, lookahead=plan.lookahead),
            )
        except BackendError as exc:
            return {**backend_error(exc, f"verifier {verifier.name!r}"), "usage": spent}
        step_scores = check_scores(verifier, result, len(targets))
        spent = add_usage(spent, verifier_usage(result))
        scored = [_scored(c, s, plan.fold) for c, s in zip(targets, step_scores, strict=True)]
        emit(
            runtime,
            {
                "node": "rollout",
                "round": round_,
                "strategy": plan.strategy,
                "rolled_out": len(targets),
                "generations": add_usage(usage_of(state), spent)["generations"],
                "budget": budget_label(ctx.budget, plan),
            },
        )
        return {"candidates": scored, "usage": spent}

    return make_node("rollout", logic)


def _scored(cand: Candidate, steps: list[float], fold: str) -> Candidate:
    # The path's score is read at the end of its rollout; its own steps keep theirs.
    own = steps[: len(cand["steps"])] if len(steps) > 1 else steps
    return {**cand, "step_scores": own, "score": fold_scores(steps, fold)}  # type: ignore[arg-type]
