"""Lookahead search: beam search whose steps are scored at the end of greedy rollouts.

The whole rule: beam search (:mod:`~langgraph_ttc.strategies.beam_search`
keeps and expands), except that each new unfinished path is continued
greedily (temperature 0) for up to k = ``plan.lookahead`` more steps, one
batched call per lookahead step, and the PRM scores it at the end of that
rollout (:func:`make_rollout_node`). The rollout only scores the path: it is
thrown away. Finished paths need no rollout and are left to ``verify``. A
path costs k + 1 generations when it opens, so lookahead costs N x (k + 1);
k = 0 is beam search.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import Unpack

from langgraph_ttc.budget import prompt_token_bound
from langgraph_ttc.engine.calls import GenerateCall, ScoreCall
from langgraph_ttc.engine.candidates import AnswerFn, PromptFn, prefix_of, question_prompt
from langgraph_ttc.engine.candidates import split_lines as lines
from langgraph_ttc.engine.driver import NodeLogic, NodeRun, make_node
from langgraph_ttc.engine.settings import (
    budget_label,
    call_metadata,
    derive_seed,
    plan_of,
    step_delimiter_of,
)
from langgraph_ttc.engine.tree import slots
from langgraph_ttc.nodes.verify import check_verifier_budget
from langgraph_ttc.state import TTCState
from langgraph_ttc.strategies.beam_search import beam_expand, keep_beams
from langgraph_ttc.strategies.graph import StrategyGraph
from langgraph_ttc.strategies.tree import SearchOptions, TreeSearch
from langgraph_ttc.types import (
    Candidate,
    GenerationRequest,
    Generator,
    StrategyConfig,
    Verifier,
    fold_scores,
)

__all__ = ["LOOKAHEAD", "create_lookahead_graph", "make_rollout_node"]


def make_rollout_node(
    generator: Generator,
    verifier: Verifier,
    *,
    graph: str,
    source: str,
    extract_answer: AnswerFn,
    prompt: PromptFn = question_prompt,
) -> Any:
    """The ``rollout`` node: roll each new unfinished path out k steps, then score it.

    A no-op when ``lookahead == 0``. Rollout steps extend paths already paid
    for, so they cost tokens and FLOPs but no generations.
    """

    def logic(state: TTCState, run: NodeRun) -> NodeLogic:
        ctx, plan, delimiter = run.ctx, plan_of(state), step_delimiter_of(state)
        round_ = state.get("round", 0)
        targets = [
            c
            for c in slots(state.get("candidates") or [], source)
            if c.get("active") and not c["done"] and c.get("score") is None
        ]
        if plan.lookahead == 0 or not targets:
            return {}
        msgs = prompt(state["question"])
        rolls: list[list[str]] = [[] for _ in targets]
        alive = list(range(len(targets)))
        for depth in range(plan.lookahead):
            prefixes = [prefix_of([*targets[i]["steps"], *rolls[i]], delimiter) for i in alive]
            cap = run.cap(
                samples=len(alive),
                max_tokens=ctx.step_max_tokens,
                prompt_tokens=max(prompt_token_bound(msgs, p) for p in prefixes),
                params=generator.params,
                generations_per_sample=0.0,
                whole=True,
            )
            completions = yield GenerateCall(
                generator,
                [
                    GenerationRequest(
                        prompt=msgs,
                        prefix=p,
                        n=1,
                        max_tokens=cap.max_tokens,
                        temperature=0.0,
                        stop=(delimiter,),
                        seed=derive_seed(ctx.seed, f"rollout{depth}", round_, i),
                    )
                    for i, p in zip(alive, prefixes, strict=True)
                ],
                run_name=f"{graph}/rollout",
                tags=run.tags(graph, "rollout"),
                metadata=call_metadata(plan, ctx.budget, round_, depth=depth + 1),
            )
            still: list[int] = []
            for i, per in zip(alive, completions, strict=True):
                if not per:  # its request failed for good (status "partial"): rollout ends
                    continue
                new = lines(per[0].text, delimiter)
                rolls[i].extend(new)
                ends = (
                    not new
                    or per[0].finish_reason == "length"
                    or extract_answer(delimiter.join(new)) is not None
                )
                if not ends:
                    still.append(i)
            alive = still
            if not alive:
                break
        texts = [delimiter.join([*c["steps"], *r]) for c, r in zip(targets, rolls, strict=True)]
        check_verifier_budget(run, state["question"], texts)
        result = yield ScoreCall(
            verifier,
            state["question"],
            texts,
            run_name=f"{graph}/verify",
            tags=run.tags(graph, "rollout"),
            metadata=call_metadata(plan, ctx.budget, round_, lookahead=plan.lookahead),
        )
        run.emit(
            {
                "node": "rollout",
                "round": round_,
                "strategy": plan.strategy,
                "rolled_out": len(targets),
                "generations": run.usage["generations"],
                "budget": budget_label(ctx.budget, plan),
            }
        )
        return {
            "candidates": [
                _scored_at_rollout_end(c, s, plan.fold)
                for c, s in zip(targets, result.steps, strict=True)
            ]
        }

    return make_node("rollout", logic)


def _scored_at_rollout_end(cand: Candidate, steps: list[float], fold: str) -> Candidate:
    # The path's score is read at the end of its rollout; its own steps keep theirs.
    own = steps[: len(cand["steps"])] if len(steps) > 1 else steps
    return {**cand, "step_scores": own, "score": fold_scores(steps, fold)}  # type: ignore[arg-type]


LOOKAHEAD = TreeSearch(
    source="lookahead",
    default=StrategyConfig(strategy="lookahead", lookahead=1),
    builder="create_lookahead_graph",
    keep=keep_beams,
    expand=beam_expand,
    cost=lambda plan: float(plan.lookahead + 1),
    rollout=make_rollout_node,
)


def create_lookahead_graph(generator: Generator, **options: Unpack[SearchOptions]) -> StrategyGraph:
    """Build lookahead search (see the module docstring).

    Args:
        generator: The policy (also runs the rollouts).
        verifier: The PRM. Required.
        config: The default plan. Defaults to N=16, M=4, k=1.
        extract_answer, prompt, name, step_delimiter: See
            :class:`~langgraph_ttc.strategies.tree.SearchOptions`.

    Raises:
        TypeError, ValueError: For a config of another strategy or no verifier.
    """
    return LOOKAHEAD.create(generator, options)
