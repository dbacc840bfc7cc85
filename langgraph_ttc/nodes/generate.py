"""``generate``: sample full solutions, or the first steps of a tree search, in one call."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from langgraph_ttc.budget import cap_call, generation_usage, prompt_token_bound
from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.nodes.calls import GenerateCall, NodeLogic, completions_of, make_node
from langgraph_ttc.nodes.candidates import (
    AnswerFn,
    PromptFn,
    extend_path,
    full_candidate,
    question_prompt,
)
from langgraph_ttc.nodes.search import slot_id, subtree_of
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
from langgraph_ttc.types import (
    Candidate,
    Completion,
    GenerationRequest,
    Generator,
    StrategyConfig,
    add_usage,
)

__all__ = ["check_not_all_empty", "make_generate_node", "samples_wanted"]


def samples_wanted(plan: StrategyConfig, candidates: list[Candidate]) -> tuple[int, int]:
    """How many full solutions to sample, and how many earlier ones are reused.

    Best-of-N and majority reuse finished probes (and samples already drawn)
    as samples; revisions reuse probes as first attempts; greedy draws its own.
    """
    if plan.strategy == "greedy":
        return 1, 0
    reusable = [c for c in candidates if c.get("done") and c.get("source") in ("probe", "sample")]
    if plan.strategy == "revise":
        chains = plan.n // plan.sequential
        probes = sum(1 for c in reusable if c.get("source") == "probe")
        return max(0, chains - probes), min(probes, chains)
    return max(0, plan.n - len(reusable)), min(len(reusable), plan.n)


def check_not_all_empty(completions: list[Completion], generator: Generator) -> None:
    """Raise if every completion of a call came back empty: the backend is broken.

    Raises:
        ValueError: Naming the generator.
    """
    if completions and not any(c.text.strip() for c in completions):
        raise ValueError(
            f"generator {generator.name!r} returned empty text for all {len(completions)} "
            "samples of a call"
        )


def make_generate_node(
    generator: Generator,
    *,
    graph: str,
    mode: Literal["full", "step"],
    source: str,
    extract_answer: AnswerFn,
    prompt: PromptFn = question_prompt,
) -> Any:
    """The ``generate`` node: one adapter call for all samples.

    ``mode="full"`` samples full solutions (greedy, majority, best-of-N, first
    revision attempts); ``mode="step"`` samples the first step of every path of
    a tree search (one request per DVTS subtree, one for a beam), opening the
    frontier slots; each path costs ``lookahead + 1`` generations.
    """

    def logic(state: TTCState, runtime: Runtime[TTCContext]) -> NodeLogic:
        ctx = context_of(runtime)
        plan = plan_of(state)
        usage = usage_of(state)
        cands = list(state.get("candidates") or [])
        question = state["question"]
        step = mode == "step"
        final = step and plan.max_rounds <= 1
        if step:
            want, reused = plan.n, 0
            per_sample = float(plan.lookahead + 1) if plan.strategy == "lookahead" else 1.0
        else:
            want, reused = samples_wanted(plan, cands)
            per_sample = 1.0
        if want == 0:
            return {}
        if out_of_time(state, ctx):
            return {"status": "deadline"}
        msgs = prompt(question)
        max_tokens = ctx.step_max_tokens if step and not final else ctx.max_tokens
        cap = cap_call(
            ctx.budget,
            usage,
            samples=want,
            max_tokens=max_tokens,
            prompt_tokens=prompt_token_bound(msgs),
            params=generator.params,
            generations_per_sample=per_sample,
        )
        if cap.samples == 0:
            return {"status": "budget_exhausted"}
        temperature = 0.0 if plan.strategy == "greedy" else plan.temperature
        stop = (STEP_DELIMITER,) if step and not final else ()
        groups = _request_groups(plan, cap.samples, step)
        requests = [
            GenerationRequest(
                prompt=msgs,
                n=len(members),
                max_tokens=cap.max_tokens,
                temperature=temperature,
                stop=stop,
                seed=derive_seed(ctx.seed, "generate", 0, g),
            )
            for g, members in enumerate(groups)
        ]
        try:
            reply = yield GenerateCall(
                generator,
                requests,
                run_name=f"{graph}/generate",
                tags=call_tags(ctx, graph, "generate"),
                metadata=call_metadata(
                    plan, ctx.budget, 0, samples=[reused, reused + cap.samples], mode=mode
                ),
            )
        except BackendError as exc:
            return backend_error(exc, f"generator {generator.name!r}")
        completions = completions_of(reply)
        flat = [c for per in completions for c in per]
        check_not_all_empty(flat, generator)
        new: list[Candidate] = []
        for members, per in zip(groups, completions, strict=True):
            for index, comp in zip(members, per, strict=True):
                new.append(
                    _candidate(
                        plan, source, index, reused, cap.samples, comp, extract_answer, step, final
                    )
                )
        spent = generation_usage(
            completions, params=generator.params, generations=cap.samples * per_sample
        )
        # A narrower frontier is still a whole search; a cut token allowance is not.
        cut = cap.limited_by is not None and (not step or cap.limited_by != "generations")
        status = "budget_exhausted" if cut else "running"
        emit(
            runtime,
            {
                "node": "generate",
                "round": 0,
                "strategy": plan.strategy,
                "samples": len(new),
                "generations": add_usage(usage, spent)["generations"],
                "budget": budget_label(ctx.budget, plan),
            },
        )
        return {"candidates": new, "usage": spent, "status": status}

    return make_node("generate", logic)


def _request_groups(plan: StrategyConfig, samples: int, step: bool) -> list[list[int]]:
    """Sample indices per request: one request, or one per DVTS subtree."""
    if step and plan.strategy == "dvts":
        groups: dict[int, list[int]] = {}
        for i in range(samples):
            groups.setdefault(subtree_of(i, samples, plan.beam_width), []).append(i)
        return list(groups.values())
    return [list(range(samples))]


def _candidate(
    plan: StrategyConfig,
    source: str,
    index: int,
    reused: int,
    width: int,
    comp: Completion,
    extract_answer: AnswerFn,
    step: bool,
    final: bool,
) -> Candidate:
    if step:
        group = subtree_of(index, width, plan.beam_width) if plan.strategy == "dvts" else None
        return extend_path(
            slot_id(source, index),
            [],
            comp,
            extract_answer,
            source=source,
            final=final,
            group=group,
        )
    if plan.strategy == "revise":
        chain = reused + index
        return full_candidate(f"sample-{chain}", comp, extract_answer, source="sample", group=chain)
    return full_candidate(f"sample-{reused + index}", comp, extract_answer, source="sample")
