"""Sample pools and revision pools, made with the library's own pieces.

A *sample pool* is ``size`` full solutions of one question at the sweep's
temperature, drawn with one adapter call (the request the ``generate`` node
sends: ``question_prompt``, ``max_tokens``, a derived seed), turned into
candidates by ``full_candidate`` and scored by one verifier call, exactly as
the best-of-N graph does. Best-of-N and majority voting subsample it.

A *revision pool* is ``chains`` revision chains of ``length`` attempts of one
question, made by running the library's revision graph
(``create_revision_graph``). The adapters are wrapped in a recorder so that
each attempt's own token counts are known; a chain cut to its first *s*
attempts is then exactly a chain of length *s*.

Both are stored per sample: text, answer, correctness, step scores and
tokens (generator and verifier), so every number downstream is a sum over
the samples a run would have drawn.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langgraph_ttc.answers import extract_answer
from langgraph_ttc.bench.data import BenchItem, Checker, is_correct
from langgraph_ttc.engine.candidates import full_candidate, question_prompt, split_lines
from langgraph_ttc.engine.settings import derive_seed
from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.models.base import split_total
from langgraph_ttc.state import TTCContext
from langgraph_ttc.types import (
    Candidate,
    Completion,
    GenerationRequest,
    Generator,
    StrategyConfig,
    Verifier,
)

__all__ = [
    "BenchModels",
    "RecordingGenerator",
    "build_revision_pool",
    "build_sample_pool",
    "sample_record",
    "verifier_token_shares",
]


@dataclass
class BenchModels:
    """The models a sweep runs.

    Attributes:
        generator: The policy (``policy-small``).
        verifier: The PRM.
        reviser: The revision model (``None``: the policy revises).
        large: A larger reference model run greedily (``policy-large``), or ``None``.
    """

    generator: Generator
    verifier: Verifier
    reviser: Generator | None = None
    large: Generator | None = None


class RecordingGenerator:
    """A ``Generator`` that passes calls through and records requests and completions.

    Args:
        inner: The wrapped generator.

    Attributes:
        log: ``(requests, completions)`` of every call since the last ``clear``.
    """

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.name = inner.name
        self.params = inner.params
        self.log: list[tuple[list[GenerationRequest], list[list[Completion]]]] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        out = self.inner.generate(requests)
        self.log.append((list(requests), out))
        return out

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        out = await self.inner.agenerate(requests)
        self.log.append((list(requests), out))
        return out

    def clear(self) -> None:
        self.log.clear()


def verifier_token_shares(
    verifier: Verifier, question: str, texts: Sequence[str], total: int
) -> list[int]:
    """Each text's share of a batch's verifier tokens.

    Exact for a verifier that can ``encode`` (the transformers PRM: the tokens
    it read for each solution); otherwise ``total`` split in proportion to the
    text lengths. Texts with no step cost nothing (the PRM skips them).
    """
    encode = getattr(verifier, "encode", None)
    if callable(encode):
        counts = [len(encode(question, t).input_ids) if split_lines(t) else 0 for t in texts]
        if sum(counts) == total:
            return counts
    weights = [len(question) + len(t) if split_lines(t) else 0 for t in texts]
    return split_total(total, weights)


def sample_record(
    cand: Candidate,
    completion: Completion,
    verifier_tokens: int,
    item: BenchItem,
    checker: Checker,
) -> dict[str, Any]:
    """One stored sample: text, answer, correctness, step scores and token counts."""
    return {
        "text": cand["text"],
        "answer": cand["answer"],
        "correct": is_correct(checker, cand["answer"], item.reference),
        "steps": list(cand["step_scores"] or []),
        "pt": completion.prompt_tokens,
        "ct": completion.completion_tokens,
        "vt": verifier_tokens,
    }


def _score(
    verifier: Verifier, item: BenchItem, cands: list[Candidate]
) -> tuple[list[Candidate], list[int], int, float]:
    """Score the candidates that need it in one call; their scores, verifier tokens and flops."""
    todo = [i for i, c in enumerate(cands) if c["score"] is None]
    texts = [cands[i]["text"] for i in todo]
    tokens = [0] * len(cands)
    if not todo:
        return cands, tokens, 0, 0.0
    result = verifier.score(item.question, texts)
    out = list(cands)
    for i, steps in zip(todo, result.steps, strict=True):
        out[i] = {**cands[i], "step_scores": list(steps), "score": float(steps[-1])}
    for i, share in zip(
        todo, verifier_token_shares(verifier, item.question, texts, result.tokens), strict=True
    ):
        tokens[i] = share
    return out, tokens, int(result.tokens), float(result.flops)


def build_sample_pool(
    models: BenchModels,
    item: BenchItem,
    *,
    size: int,
    seed: int,
    checker: Checker,
    temperature: float = 0.8,
    max_tokens: int = 256,
) -> dict[str, Any]:
    """Draw and score ``size`` solutions of one question.

    Args:
        models: The policy and the verifier.
        item: The question.
        size: Samples in the pool.
        seed: The question's base seed (requests derive theirs from it).
        checker: Decides each sample's correctness.
        temperature: Sampling temperature.
        max_tokens: Token cap per solution.

    Returns:
        The pool: ``samples`` (see :func:`sample_record`), the generator and
        verifier parameter counts, the verifier's FLOPs, and the wall time.
    """
    started = time.perf_counter()
    request = GenerationRequest(
        prompt=question_prompt(item.question),
        n=size,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=derive_seed(seed, "pool", 0, 0),
    )
    completions = models.generator.generate([request])[0]
    cands = [
        full_candidate(f"sample-{i}", c, extract_answer, source="sample")
        for i, c in enumerate(completions)
    ]
    cands, vtokens, vtotal, vflops = _score(models.verifier, item, cands)
    samples = [
        sample_record(c, comp, vt, item, checker)
        for c, comp, vt in zip(cands, completions, vtokens, strict=True)
    ]
    return {
        "samples": samples,
        "params": models.generator.params,
        "verifier_tokens": vtotal,
        "verifier_flops": vflops,
        "wall_s": time.perf_counter() - started,
    }


def build_revision_pool(
    graph: Any,
    recorders: tuple[RecordingGenerator, RecordingGenerator],
    models: BenchModels,
    item: BenchItem,
    *,
    chains: int,
    length: int,
    seed: int,
    checker: Checker,
    max_tokens: int = 256,
) -> dict[str, Any]:
    """Run the revision graph once: ``chains`` chains of ``length`` attempts.

    Args:
        graph: The compiled revision graph, built on the two recorders, with
            ``StrategyConfig("revise", n=chains * length, sequential=length)``.
        recorders: The recording policy and reviser inside ``graph``.
        models: The verifier (for per-attempt verifier tokens).
        item: The question.
        chains: Parallel chains.
        length: Attempts per chain.
        seed: The run's seed (``TTCContext.seed``).
        checker: Decides each attempt's correctness.
        max_tokens: Token cap per attempt.

    Returns:
        The pool: ``chains``, each a list of attempts (see
        :func:`sample_record`), the parameter counts, the verifier's FLOPs and
        the wall time.

    Raises:
        RuntimeError: If the run ended early (budget, backend error) or an
            attempt cannot be matched to the call that made it.
    """
    policy_rec, reviser_rec = recorders
    policy_rec.clear()
    reviser_rec.clear()
    started = time.perf_counter()
    plan = StrategyConfig("revise", n=chains * length, sequential=length)
    out = graph.invoke(
        {"question": item.question},
        context=TTCContext(seed=seed, plan=plan, max_tokens=max_tokens),
    )
    # "no_candidates" is a finished run whose attempts hold no answer: a result, not a fault.
    if out.get("status") not in ("done", "no_candidates"):
        raise RuntimeError(
            f"revision pool for {item.qid}: the run ended with status {out.get('status')!r} "
            f"({out.get('error')})"
        )
    by_id = {c["id"]: c for c in out.get("candidates") or []}
    # Which completion made which attempt: the first call drew the first attempts;
    # each reviser call drew one attempt per chain, its request seeded by (round, chain).
    firsts = policy_rec.log[0][1][0]
    made: dict[tuple[int, int], Completion] = {(g, 0): c for g, c in enumerate(firsts)}
    seeds = {
        derive_seed(seed, "revise", r, g): (g, r) for r in range(1, length) for g in range(chains)
    }
    for requests, completions in reviser_rec.log:
        for req, per in zip(requests, completions, strict=True):
            made[seeds[req.seed]] = per[0]  # type: ignore[index]
    attempts: list[tuple[int, int, Candidate, Completion]] = []
    for g in range(chains):
        for r in range(length):
            cid = f"sample-{g}" if r == 0 else f"revision-{g}-{r}"
            cand, comp = by_id.get(cid), made.get((g, r))
            if cand is None or comp is None:
                raise RuntimeError(f"revision pool for {item.qid}: attempt {cid} is missing")
            if STEP_DELIMITER.join(split_lines(comp.text)) != cand["text"]:
                raise RuntimeError(f"revision pool for {item.qid}: attempt {cid} does not match")
            attempts.append((g, r, cand, comp))
    texts = [c["text"] for _, _, c, _ in attempts]
    scored = [bool(c["text"]) for _, _, c, _ in attempts]
    vtotal = int(out["usage"]["verifier_tokens"])
    shares = verifier_token_shares(
        models.verifier, item.question, [t for t, s in zip(texts, scored, strict=True) if s], vtotal
    )
    share_iter = iter(shares)
    pool: list[list[dict[str, Any]]] = [[] for _ in range(chains)]
    for (g, _, cand, comp), has_text in zip(attempts, scored, strict=True):
        vt = next(share_iter) if has_text else 0
        pool[g].append(sample_record(cand, comp, vt, item, checker))
    return {
        "chains": pool,
        "params": policy_rec.params,
        "reviser_params": reviser_rec.params,
        "verifier_tokens": vtotal,
        "verifier_flops": float(out["usage"]["verifier_flops"]),
        "wall_s": time.perf_counter() - started,
    }
