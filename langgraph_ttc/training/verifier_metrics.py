"""Measure verifiers where it matters: ranking a question's own solutions.

    python -m langgraph_ttc.training.verifier_metrics --models DIR [--per-ops 100]

For each verifier (the bundled default, the likelihood of ``policy-large``,
and the step-tag ``prm``), on held-out test questions with 64 samples of
``policy-small`` each at T=0.8, per operation count:

- AUROC of the folded score, correct against incorrect: pooled over all
  samples, and within each question whose 16 first samples are mixed (the
  mean; this is what weighted voting and search need);
- verifier-weighted best-of-16 and best-of-64 against majority@16 and @64;
- beam search (N=16, M=4) through the library's own graph against
  weighted best-of-16;
- the verifier's parameters and FLOPs per scored token.

The result goes under ``"verifiers"`` in ``DIR/metrics.json``. The sample
pool and each verifier's scores are cached under ``DIR/.verifier-cache``, so
a killed run resumes.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from langgraph_ttc.bench.stats import auroc, mean, within_question_auroc
from langgraph_ttc.suite.task import DEFAULT_MAX_OPS, check, extract_answer, load_split
from langgraph_ttc.suite.tokenizer import build_tokenizer
from langgraph_ttc.training.prompts import chat_prompt
from langgraph_ttc.training.sampling import sample_many
from langgraph_ttc.types import Fold, Verifier, fold_scores

__all__ = ["FOLDS", "main", "measure_verifier", "sample_pool"]

FOLDS: tuple[Fold, ...] = ("last", "min", "mean", "prod")
POOL = 64
HEAD = 16


def sample_pool(
    model_dir: Path, questions: Sequence[str], *, samples: int, seed: int, cache: Path
) -> list[list[str]]:
    """``samples`` solutions of ``policy-small`` per question at T=0.8 (cached)."""
    if cache.exists():
        return json.loads(cache.read_text())  # type: ignore[no-any-return]
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(model_dir / "policy-small", dtype=torch.float32)
    tok = build_tokenizer()
    prompts = [chat_prompt(tok, [{"role": "user", "content": q}]) for q in questions]
    out = sample_many(
        model.eval(),
        tok,
        [p for p in prompts for _ in range(samples)],
        seed=seed,
        desc="pool",
        batch_size=1024,
    )
    pool = [
        [s.text.strip() for s in out[i * samples : (i + 1) * samples]]
        for i in range(len(questions))
    ]
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(pool))
    return pool


def _scores(
    verifier: Verifier, questions: Sequence[str], pool: Sequence[Sequence[str]], cache: Path
) -> list[list[list[float]]]:
    """Step scores of every pooled sample, one verifier call per question (cached)."""
    if cache.exists():
        return json.loads(cache.read_text())  # type: ignore[no-any-return]
    out = [
        verifier.score(q, list(texts)).steps
        for q, texts in tqdm(list(zip(questions, pool, strict=True)), desc=verifier.name)
    ]
    cache.write_text(json.dumps(out))
    return out


def _weighted_pick(answers: Sequence[str | None], weights: Sequence[float]) -> str | None:
    totals: dict[str, float] = defaultdict(float)
    for a, w in zip(answers, weights, strict=True):
        if a is not None:
            totals[a] += w
    return max(totals, key=lambda a: totals[a]) if totals else None


def _majority_pick(answers: Sequence[str | None]) -> str | None:
    votes = Counter(a for a in answers if a is not None)
    return votes.most_common(1)[0][0] if votes else None


def measure_verifier(
    questions: Sequence[str],
    ops: Sequence[int],
    pool: Sequence[Sequence[str]],
    steps: Sequence[Sequence[Sequence[float]]],
    *,
    fold: Fold,
    beam: Callable[[str], str | None] | None = None,
) -> dict[str, Any]:
    """The verifier's numbers on one pool (see the module docstring).

    Args:
        questions: The questions.
        ops: Each question's operation count.
        pool: Samples per question (at least 64).
        steps: The verifier's step scores of every sample.
        fold: The fold the router and the searches use with this verifier.
        beam: Runs beam search on a question and returns its answer (optional).
    """
    correct = [[check(t, q) for t in texts] for q, texts in zip(questions, pool, strict=True)]
    by_fold: dict[str, Any] = {}
    for f in FOLDS:
        folded = [[fold_scores(s, f) for s in per_q] for per_q in steps]
        groups = [(sc[:HEAD], ok[:HEAD]) for sc, ok in zip(folded, correct, strict=True)]
        within, mixed = within_question_auroc(groups)
        pooled = auroc([x for sc, _ in groups for x in sc], [y for _, ok in groups for y in ok])
        by_fold[f] = {
            "within_question": round(within, 4),
            "mixed_questions": mixed,
            "pooled": round(pooled, 4),
        }
    per_ops: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    # Beam search runs the real graph per question: minutes, so show progress.
    progress = tqdm(questions, desc="beam search", disable=beam is None)
    for i, q in enumerate(progress):
        answers = [extract_answer(t) for t in pool[i]]
        weights = [fold_scores(s, fold) for s in steps[i]]
        row = per_ops[ops[i]]
        for n in (HEAD, POOL):
            weighted = _weighted_pick(answers[:n], weights[:n])
            majority = _majority_pick(answers[:n])
            row[f"weighted@{n}"].append(float(weighted is not None and check(weighted, q)))
            row[f"majority@{n}"].append(float(majority is not None and check(majority, q)))
        if beam is not None:
            got = beam(q)
            row[f"beam@{HEAD}"].append(float(got is not None and check(got, q)))
    table = {
        str(k): {m: round(mean(v), 4) for m, v in sorted(row.items())}
        for k, row in sorted(per_ops.items())
    }
    overall: dict[str, list[float]] = defaultdict(list)
    for row in per_ops.values():
        for m, v in row.items():
            overall[m] += v
    return {
        "fold": fold,
        "auroc": by_fold,
        "per_ops": table,
        "overall": {m: round(mean(v), 4) for m, v in sorted(overall.items())},
    }


def _beam_runner(
    verifier: Verifier, generator: Any, fold: Fold, seed: int
) -> Callable[[str], str | None]:
    """Beam search N=16, M=4 through the library's graph (what users run)."""
    from langgraph_ttc.state import TTCContext
    from langgraph_ttc.strategies import create_beam_search_graph
    from langgraph_ttc.types import StrategyConfig

    graph = create_beam_search_graph(
        generator, verifier=verifier, config=StrategyConfig("beam", n=HEAD, beam_width=4, fold=fold)
    ).compile()

    def run(question: str) -> str | None:
        out = graph.invoke({"question": question}, context=TTCContext(seed=seed))
        return out.get("answer")  # type: ignore[no-any-return]

    return run


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: measure the bundled verifiers and update ``metrics.json``."""
    parser = argparse.ArgumentParser(prog="python -m langgraph_ttc.training.verifier_metrics")
    parser.add_argument("--models", type=Path, required=True, help="the models folder")
    parser.add_argument("--per-ops", type=int, default=100, help="test questions per op count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-beam", action="store_true", help="skip the beam-search runs")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from langgraph_ttc.models import TransformersGenerator
    from langgraph_ttc.verifiers import TransformersLikelihoodVerifier, TransformersPRM

    problems = load_split("test", args.per_ops * DEFAULT_MAX_OPS, seed=args.seed)
    questions = [p.question for p in problems]
    ops = [p.ops for p in problems]
    cache = args.models / ".verifier-cache" / f"test-{args.per_ops}-{args.seed}"
    pool = sample_pool(
        args.models, questions, samples=POOL, seed=args.seed, cache=cache / "pool.json"
    )
    verifiers: dict[str, tuple[Verifier, Fold]] = {
        "likelihood": (
            TransformersLikelihoodVerifier(
                args.models / "policy-large", dtype="float32", name="likelihood"
            ),
            "min",
        ),
        "prm": (TransformersPRM(args.models / "prm", name="prm"), "last"),
    }
    policy = TransformersGenerator(str(args.models / "policy-small"), name="policy-small")
    report: dict[str, Any] = {
        "split": "test",
        "questions_per_ops": args.per_ops,
        "samples": POOL,
        "auroc_samples": HEAD,
        "temperature": 0.8,
        "seed": args.seed,
    }
    for name, (verifier, fold) in verifiers.items():
        steps = _scores(verifier, questions, pool, cache / f"scores-{name}.json")
        beam = None if args.no_beam else _beam_runner(verifier, policy, fold, args.seed)
        numbers = measure_verifier(questions, ops, pool, steps, fold=fold, beam=beam)
        params = getattr(verifier, "params", None)
        numbers["params"] = params
        numbers["flops_per_token"] = 2 * params if params else None
        report[name] = numbers
        print(json.dumps({name: numbers["overall"], "auroc": numbers["auroc"][fold]}), flush=True)
    path = args.models / "metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics["verifiers"] = report
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
