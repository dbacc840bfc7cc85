"""Budget arithmetic: what a run may still spend, and what a call cost.

Pure functions over ``Budget`` and ``Usage``. The nodes ask :func:`cap_call`
before every model call, so a run never spends past a cap, and add up what the
call cost with :func:`generation_usage` / :func:`verifier_usage`.

Generations follow the paper's unit: a full sample costs 1; in tree search a
path of the frontier costs 1 when it is opened (lookahead: ``k + 1``), so beam
search over N beams costs N in all. Tokens and FLOPs are counted exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from langgraph_ttc.types import (
    Budget,
    Completion,
    Prompt,
    ScoreResult,
    StrategyConfig,
    Usage,
    empty_usage,
)

__all__ = [
    "CallCap",
    "cap_call",
    "check_plan_fits",
    "generation_usage",
    "prompt_token_bound",
    "verifier_usage",
]

# Tokens a chat template may add around a prompt (BOS, role headers), and per message.
_TEMPLATE_TOKENS = 64
_MESSAGE_TOKENS = 8


@dataclass(frozen=True)
class CallCap:
    """What one model call may ask for.

    Attributes:
        samples: Samples allowed (at most what was wanted; 0 means no call).
        max_tokens: Cap on generated tokens per sample.
        limited_by: The cap that cut the call short (``"generations"``,
            ``"tokens"``, ``"flops"``), or ``None`` when it fits whole.
    """

    samples: int
    max_tokens: int
    limited_by: str | None = None


def check_plan_fits(plan: StrategyConfig, budget: Budget | None) -> None:
    """Raise if a plan cannot fit its budget at all.

    Raises:
        ValueError: If the plan's cost in generations exceeds ``budget.generations``.
    """
    if budget is None or budget.generations is None:
        return
    if plan.generations > budget.generations + 1e-9:
        raise ValueError(
            f"plan {plan.strategy!r} with n={plan.n} costs {plan.generations} generations, "
            f"more than the budget ({budget.generations:g} generations)"
        )


def prompt_token_bound(prompt: Prompt, prefix: str = "") -> int:
    """An upper estimate of the tokens a backend reads for ``prompt`` + ``prefix``.

    UTF-8 bytes bound the tokens of byte-level and character vocabularies; a
    margin covers the chat template. Used only to keep FLOPs under a cap.
    """
    if isinstance(prompt, str):
        body, messages = len(prompt.encode()), 1
    else:
        body = sum(len(m.get("content", "").encode()) for m in prompt)
        messages = len(prompt)
    return body + len(prefix.encode()) + _TEMPLATE_TOKENS + _MESSAGE_TOKENS * messages


def cap_call(
    budget: Budget | None,
    usage: Usage,
    *,
    samples: int,
    max_tokens: int,
    prompt_tokens: int = 0,
    params: int | None = None,
    generations_per_sample: float = 1.0,
) -> CallCap:
    """Shrink a call so that it cannot pass any cap of ``budget``.

    Fewer samples first for the generation cap; then ``max_tokens`` is cut so
    that ``samples * max_tokens`` fits the tokens left (fewer samples only when
    fewer tokens than samples are left); then the same for FLOPs, using
    ``prompt_tokens`` (an upper estimate per sample) and ``params``.

    Args:
        budget: The run's hard cap, or ``None`` for no cap.
        usage: What the run has spent so far.
        samples: Samples wanted.
        max_tokens: Generated tokens wanted per sample.
        prompt_tokens: Upper estimate of prompt tokens per sample (FLOPs cap).
        params: Generator parameters, for the FLOPs cap.
        generations_per_sample: What one sample costs in generations (0 for
            steps that extend paths already paid for).

    Returns:
        The call allowed; ``samples == 0`` when nothing fits.
    """
    limited: str | None = None
    if budget is None or samples <= 0:
        return CallCap(max(samples, 0), max_tokens)
    if budget.generations is not None and generations_per_sample > 0:
        left = budget.generations - usage["generations"]
        fit = max(0, math.floor(left / generations_per_sample + 1e-9))
        if fit < samples:
            samples, limited = fit, "generations"
    if budget.tokens is not None and samples > 0:
        left_tokens = max(0, budget.tokens - usage["generated_tokens"])
        if left_tokens < samples:
            samples, limited = left_tokens, "tokens"
        if samples > 0 and samples * max_tokens > left_tokens:
            max_tokens, limited = left_tokens // samples, "tokens"
    if budget.flops is not None and params and samples > 0:
        left_flops = max(0.0, budget.flops - usage["flops"])
        per_token = 2.0 * params
        fit = math.floor(left_flops / (per_token * (prompt_tokens + 1)))
        if fit < samples:
            samples, limited = fit, "flops"
        if samples > 0:
            per_sample = math.floor(left_flops / (samples * per_token) - prompt_tokens)
            if per_sample < max_tokens:
                max_tokens, limited = per_sample, "flops"
    if samples <= 0:
        return CallCap(0, max_tokens, limited or "generations")
    return CallCap(samples, max_tokens, limited)


def generation_usage(
    completions: Sequence[Sequence[Completion]],
    *,
    params: int | None,
    generations: float,
) -> Usage:
    """The cost of one generator call.

    Args:
        completions: What the call returned.
        params: Generator parameters; FLOPs are 2 x params x (prompt + generated) tokens.
        generations: The call's cost in the paper's unit.
    """
    usage = empty_usage()
    prompt = sum(c.prompt_tokens for per in completions for c in per)
    generated = sum(c.completion_tokens for per in completions for c in per)
    usage["generations"] = float(generations)
    usage["prompt_tokens"] = prompt
    usage["generated_tokens"] = generated
    usage["flops"] = 2.0 * params * (prompt + generated) if params else 0.0
    return usage


def verifier_usage(result: ScoreResult) -> Usage:
    """The cost of one verifier call, kept apart from generator compute."""
    usage = empty_usage()
    usage["verifier_calls"] = 1
    usage["verifier_tokens"] = int(result.tokens)
    usage["verifier_flops"] = float(result.flops)
    return usage
