"""What the LangGraph graph costs over a plain loop running the same algorithm.

Best-of-16 and beam search (N=16, M=4) run twice on the same adapters with the
same seeds: once as the library's compiled graphs, once as a plain Python loop
that makes exactly the same adapter calls (same requests, same seeds) and uses
the same pure search functions. Both must reach the same candidates; the
difference in wall time is the graph's overhead (state merging, checkpoint-free
Pregel steps, node wrappers, traced call wrappers, stream writer).

Models: the bundled ``policy-small`` and ``prm`` when installed, else a
random tiny Llama with the suite tokenizer (built in a temporary folder).

Run: ``python benchmarks/graph_overhead.py [--reps 5] [--questions 4]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from langgraph_ttc.answers import extract_answer
from langgraph_ttc.engine.candidates import extend_path, full_candidate, prefix_of, question_prompt
from langgraph_ttc.engine.settings import derive_seed
from langgraph_ttc.engine.tree import archive, slots
from langgraph_ttc.models.transformers import TransformersGenerator
from langgraph_ttc.nodes.prune import prune_frontier
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_beam_search_graph, create_best_of_n_graph
from langgraph_ttc.strategies.beam_search import beam_expand, keep_beams
from langgraph_ttc.strategies.factory import select_answer
from langgraph_ttc.suite.modeling import bundled_model_path
from langgraph_ttc.suite.task import load_split
from langgraph_ttc.types import Candidate, GenerationRequest, StrategyConfig, fold_scores
from langgraph_ttc.verifiers.prm import TransformersPRM

BEST_OF = StrategyConfig(strategy="best_of_n", n=16)
BEAM = StrategyConfig(strategy="beam", n=16, beam_width=4, max_rounds=12)


def load_models() -> tuple[Timed, Timed, str]:
    """The bundled policy and PRM, or a random tiny model standing in for both."""
    try:
        policy, prm = bundled_model_path("policy-small"), bundled_model_path("prm")
        label = "bundled policy-small + prm"
    except FileNotFoundError:
        import torch
        from transformers import GenerationConfig, LlamaForCausalLM

        from langgraph_ttc.suite.modeling import build_config
        from langgraph_ttc.suite.tokenizer import build_tokenizer

        policy = prm = Path(tempfile.mkdtemp(prefix="ttc-tiny-"))
        torch.manual_seed(0)
        model = LlamaForCausalLM(build_config("tiny"))
        model.generation_config = GenerationConfig(
            do_sample=True, bos_token_id=1, eos_token_id=2, pad_token_id=0
        )
        model.save_pretrained(policy)
        build_tokenizer().save_pretrained(policy)
        label = "random tiny model (bundled models not installed)"
    generator = Timed(TransformersGenerator(policy, device="cpu"))
    verifier = Timed(TransformersPRM(prm, device="cpu"))
    return generator, verifier, label


class Timed:
    """Wraps an adapter and adds up the wall time spent inside its calls.

    Model time on a shared CPU varies by tens of percent from run to run, far
    more than the graph costs; so the overhead is measured outside the model:
    (total - model time) of the graph against the same for the loop.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.params = getattr(inner, "params", None)
        self.seconds = 0.0

    def _timed(self, fn: Any, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds += time.perf_counter() - start

    def generate(self, requests: Any) -> Any:
        return self._timed(self.inner.generate, requests)

    async def agenerate(self, requests: Any) -> Any:
        return self._timed(self.inner.generate, requests)

    def score(self, question: str, solutions: Any) -> Any:
        return self._timed(self.inner.score, question, solutions)

    async def ascore(self, question: str, solutions: Any) -> Any:
        return self._timed(self.inner.score, question, solutions)


def _score(verifier: Any, question: str, cands: list[Candidate], fold: str) -> list[Candidate]:
    todo = [c for c in cands if c["score"] is None and c["text"]]
    if not todo:
        return []
    result = verifier.score(question, [c["text"] for c in todo])
    return [
        {**c, "step_scores": s, "score": fold_scores(s, fold)}  # type: ignore[misc, arg-type]
        for c, s in zip(todo, result.steps, strict=True)
    ]


def _merge(pool: dict[str, Candidate], new: list[Candidate]) -> None:
    for c in new:
        pool[c["id"]] = c


Result = tuple[str | None, dict[str, str]]


def loop_best_of_n(gen: Any, ver: Any, question: str, ctx: TTCContext) -> Result:
    """Best-of-N as a plain loop: one generate call, one score call, weighted vote."""
    req = GenerationRequest(
        prompt=question_prompt(question),
        n=BEST_OF.n,
        max_tokens=ctx.max_tokens,
        temperature=BEST_OF.temperature,
        seed=derive_seed(ctx.seed, "generate", 0, 0),
    )
    (comps,) = gen.generate([req])
    cands = [
        full_candidate(f"sample-{i}", c, extract_answer, source="sample")
        for i, c in enumerate(comps)
    ]
    pool = {c["id"]: c for c in cands}
    _merge(pool, _score(ver, question, cands, BEST_OF.fold))
    answer = select_answer(BEST_OF, list(pool.values()), verified=True)[0]
    return answer, {c["id"]: c["text"] for c in pool.values()}


def loop_beam(gen: Any, ver: Any, question: str, ctx: TTCContext) -> Result:
    """Beam search as a plain loop over the same pure functions and the same requests."""
    plan, msgs = BEAM, question_prompt(question)
    first = GenerationRequest(
        prompt=msgs,
        n=plan.n,
        max_tokens=ctx.step_max_tokens,
        temperature=plan.temperature,
        stop=("\n",),
        seed=derive_seed(ctx.seed, "generate", 0, 0),
    )
    (comps,) = gen.generate([first])
    pool: dict[str, Candidate] = {}
    _merge(
        pool,
        [
            extend_path(f"beam-{i}", [], c, extract_answer, source="beam", slot=i, round_=0)
            for i, c in enumerate(comps)
        ],
    )
    round_ = 0
    while True:
        _merge(pool, _score(ver, question, list(pool.values()), plan.fold))
        kept, dropped = prune_frontier(list(pool.values()), plan, "beam", keep_beams)
        _merge(pool, [{**c, "active": False} for c in dropped])
        if not kept:
            break
        round_ += 1
        final = round_ >= plan.max_rounds - 1
        frontier = slots(list(pool.values()), "beam")
        assigned = beam_expand(frontier, plan)
        reqs = [
            GenerationRequest(
                prompt=msgs,
                prefix=prefix_of(p["steps"]),
                n=len(idx),
                max_tokens=ctx.max_tokens if final else ctx.step_max_tokens,
                temperature=plan.temperature,
                stop=() if final else ("\n",),
                seed=derive_seed(ctx.seed, "branch", round_, j),
            )
            for j, (p, idx) in enumerate(assigned)
        ]
        by_slot = {c.get("slot"): c for c in frontier}
        new: list[Candidate] = []
        for (parent, idx), per in zip(assigned, gen.generate(reqs), strict=True):
            for i, comp in zip(idx, per, strict=True):
                old = by_slot.get(i)
                if old is not None and old["done"]:
                    new.append(archive(old, round_))
                new.append(
                    extend_path(
                        f"beam-{i}",
                        parent["steps"],
                        comp,
                        extract_answer,
                        source="beam",
                        final=final,
                        parent=parent["id"],
                        slot=i,
                        round_=round_,
                    )
                )
        _merge(pool, new)
    answer = select_answer(plan, list(pool.values()), verified=True)[0]
    return answer, {c["id"]: c["text"] for c in pool.values()}


def _timed_runs(
    runs: dict[str, Any], questions: list[str], reps: int, gen: Timed, ver: Timed
) -> dict[str, tuple[list[float], list[float]]]:
    """Per variant: wall time of each repetition, and the part spent outside the models.

    Variants alternate within each repetition, so drift in machine load hits both.
    """
    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in runs}
    for _ in range(reps):
        for name, run in runs.items():
            gen.seconds = ver.seconds = 0.0
            start = time.perf_counter()
            for q in questions:
                run(q)
            total = time.perf_counter() - start
            out[name][0].append(total)
            out[name][1].append(total - gen.seconds - ver.seconds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per variant")
    parser.add_argument("--questions", type=int, default=4, help="questions per repetition")
    args = parser.parse_args()
    gen, ver, label = load_models()
    questions = [p.question for p in load_split("test", args.questions, seed=0)]
    ctx = TTCContext(seed=0, max_tokens=64, step_max_tokens=24)
    graphs = {
        "best-of-16": create_best_of_n_graph(gen, verifier=ver, config=BEST_OF).compile(),
        "beam N=16 M=4": create_beam_search_graph(gen, verifier=ver, config=BEAM).compile(),
    }
    loops = {"best-of-16": loop_best_of_n, "beam N=16 M=4": loop_beam}
    print(f"models: {label}; {len(questions)} questions x {args.reps} reps, CPU")
    for name, graph in graphs.items():
        loop = loops[name]
        for q in questions:  # warm up, and check both run the same algorithm
            out = graph.invoke({"question": q}, context=ctx)
            texts = {c["id"]: c["text"] for c in out["candidates"]}
            assert (out["answer"], texts) == loop(gen, ver, q, ctx), f"{name}: graph != loop on {q}"
        timed = _timed_runs(
            {
                "graph": lambda q, graph=graph: graph.invoke({"question": q}, context=ctx),
                "loop": lambda q, loop=loop: loop(gen, ver, q, ctx),
            },
            questions,
            args.reps,
            gen,
            ver,
        )
        (g_times, g_out), (l_times, l_out) = timed["graph"], timed["loop"]
        g, lp = statistics.median(g_times), statistics.median(l_times)
        extra = statistics.median(g_out) - statistics.median(l_out)
        print(
            f"{name:>14}: graph {g:.3f}s  loop {lp:.3f}s  (raw {100 * (g / lp - 1):+.1f}%)  "
            f"outside the models: graph {statistics.median(g_out) * 1e3:.1f}ms  "
            f"loop {statistics.median(l_out) * 1e3:.1f}ms  -> overhead {100 * extra / lp:+.2f}%"
        )


if __name__ == "__main__":
    main()
