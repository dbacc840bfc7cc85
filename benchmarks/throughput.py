"""Questions per second, one at a time against concurrent, on the bundled models.

Best-of-8, majority-of-8 (no verifier) and beam search (N=16, M=4) each
answer the same test questions twice on one compiled graph and one set of
adapters: one ``invoke`` after another, then all at once (``ainvoke``
gathered on one event loop, at most ``--concurrency`` in flight).
Concurrent runs share forward passes through the adapters' coalescers; the
answers and every candidate's text must be identical both ways (each
request samples from its own seed, whatever shares its batch). Then the
wall time per generation of beam search against best-of-N at the same
number of generations (N = beam search's mean generations per question),
both ways, with the generator's and the verifier's busy time (their
coalescers' ``seconds``, wall time inside the batches) and the verifier
tokens read, to show what dominates. ``CPU`` is the process's CPU time: on
a machine shared with other work it moves far less than the wall time does.

Models: ``load_bundled()`` (``policy-small`` samples, ``policy-large``'s
likelihood verifies). Run it at one torch thread, niced on a shared machine:
``OMP_NUM_THREADS=1 nice -n 10 python benchmarks/throughput.py [--questions 64]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

from langgraph_ttc.defaults import load_bundled
from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies import create_beam_search_graph, create_best_of_n_graph
from langgraph_ttc.suite.task import load_split
from langgraph_ttc.types import StrategyConfig


@dataclass
class Run:
    """One arm over all questions, one way."""

    seconds: float
    outputs: list[dict[str, Any]]
    generator_s: float
    verifier_s: float
    cpu_s: float

    def per_second(self) -> float:
        return len(self.outputs) / self.seconds

    def generations(self) -> float:
        return sum(o["usage"]["generations"] for o in self.outputs)


def _busy(models: Any) -> tuple[float, float]:
    return models.generator.coalescing.seconds, models.verifier.coalescing.seconds


def one_at_a_time(graph: Any, questions: list[str], ctx: TTCContext, models: Any) -> Run:
    g0, v0 = _busy(models)
    cpu, start = time.process_time(), time.perf_counter()
    outputs = [graph.invoke({"question": q}, context=ctx) for q in questions]
    seconds = time.perf_counter() - start
    g1, v1 = _busy(models)
    return Run(seconds, outputs, g1 - g0, v1 - v0, time.process_time() - cpu)


def concurrent(graph: Any, questions: list[str], ctx: TTCContext, models: Any, limit: int) -> Run:
    async def all_of_them() -> list[dict[str, Any]]:
        gate = asyncio.Semaphore(limit)

        async def one(q: str) -> dict[str, Any]:
            async with gate:
                out: dict[str, Any] = await graph.ainvoke({"question": q}, context=ctx)
                return out

        return list(await asyncio.gather(*(one(q) for q in questions)))

    g0, v0 = _busy(models)
    cpu, start = time.process_time(), time.perf_counter()
    outputs = asyncio.run(all_of_them())
    seconds = time.perf_counter() - start
    g1, v1 = _busy(models)
    return Run(seconds, outputs, g1 - g0, v1 - v0, time.process_time() - cpu)


def _same(a: Run, b: Run) -> str:
    """Whether the answers, the candidate texts and the usage match, question by question."""
    answers = texts = usage = 0
    for x, y in zip(a.outputs, b.outputs, strict=True):
        answers += x["answer"] != y["answer"]
        texts += {c["id"]: c["text"] for c in x["candidates"]} != {
            c["id"]: c["text"] for c in y["candidates"]
        }
        usage += {k: v for k, v in x["usage"].items() if k != "wall_time_s"} != {
            k: v for k, v in y["usage"].items() if k != "wall_time_s"
        }
    if not answers + texts + usage:
        return "identical answers, texts and usage"
    return f"DIFFERENT: answers {answers}, texts {texts}, usage {usage} questions"


def _accuracy(run: Run, answers: list[int]) -> float:
    hits = [o["answer"] == str(a) for o, a in zip(run.outputs, answers, strict=True)]
    return sum(hits) / len(hits)


def _line(name: str, run: Run) -> str:
    gens = run.generations()
    ver_tokens = sum(o["usage"]["verifier_tokens"] for o in run.outputs) / len(run.outputs)
    return (
        f"{name:<26} {run.seconds:7.2f}s  {run.per_second():6.2f} q/s  "
        f"{1e3 * run.seconds / gens:6.2f} ms/generation  CPU {run.cpu_s:6.2f}s  "
        f"(generator busy {run.generator_s:5.2f}s, verifier busy {run.verifier_s:5.2f}s, "
        f"{ver_tokens:.0f} verifier tokens a question)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=64, help="test questions per arm")
    parser.add_argument("--concurrency", type=int, default=64, help="graph runs in flight at once")
    args = parser.parse_args()
    import torch

    models = load_bundled("cpu")
    problems = load_split("test", args.questions, seed=0)
    questions = [p.question for p in problems]
    answers = [p.answer for p in problems]
    ctx = TTCContext(seed=0)
    arms = {
        "best-of-8": create_best_of_n_graph(
            models.generator,
            verifier=models.verifier,
            config=StrategyConfig(strategy="best_of_n", n=8),
        ).compile(),
        # No verifier: what sharing buys the generator alone (overhead-bound
        # at this size, where the verifier's forward pass is compute-bound).
        "majority-of-8": create_best_of_n_graph(
            models.generator, config=StrategyConfig(strategy="majority", n=8)
        ).compile(),
        "beam N=16 M=4": create_beam_search_graph(
            models.generator,
            verifier=models.verifier,
            config=StrategyConfig(strategy="beam", n=16, beam_width=4),
        ).compile(),
    }
    # Warm up (loads the models, sets the thread count), then report what runs.
    arms["best-of-8"].invoke({"question": questions[0]}, context=ctx)
    print(
        f"bundled policy-small + policy-large likelihood; {len(questions)} test questions; "
        f"CPU, torch threads {torch.get_num_threads()}; concurrency {args.concurrency}"
    )
    runs: dict[str, tuple[Run, Run]] = {}
    for name, graph in arms.items():
        alone = one_at_a_time(graph, questions, ctx, models)
        together = concurrent(graph, questions, ctx, models, args.concurrency)
        runs[name] = (alone, together)
        print(_line(f"{name} one at a time", alone))
        print(_line(f"{name} concurrent", together))
        speedup = together.per_second() / alone.per_second()
        print(
            f"{'':<26} concurrent / one at a time: {speedup:.2f}x"
            f"  {_same(alone, together)}"
            f"  accuracy {_accuracy(together, answers):.3f}"
        )

    beam_alone, beam = runs["beam N=16 M=4"]
    per_q = beam.generations() / len(questions)
    n_equal = max(1, round(per_q))
    bon = create_best_of_n_graph(
        models.generator,
        verifier=models.verifier,
        config=StrategyConfig(strategy="best_of_n", n=n_equal),
    ).compile()
    bon_alone = one_at_a_time(bon, questions, ctx, models)
    bon_run = concurrent(bon, questions, ctx, models, args.concurrency)
    print(_line(f"best-of-{n_equal} one at a time", bon_alone))
    print(_line(f"best-of-{n_equal} concurrent", bon_run))
    rounds = statistics.mean(
        max((c.get("round") or 0) for c in o["candidates"]) + 1 for o in beam.outputs
    )
    for label, b, o in (("one at a time", beam_alone, bon_alone), ("concurrent", beam, bon_run)):
        ratio = (b.seconds / b.generations()) / (o.seconds / o.generations())
        print(
            f"beam vs best-of-{n_equal} ({label}): {per_q:.1f} generations a question, "
            f"{rounds:.1f} rounds; wall time per generation {ratio:.2f}x best-of-N's"
        )


if __name__ == "__main__":
    main()
