"""How much of everything a training run does: the ``--scale`` presets."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCALES", "Scale"]


@dataclass(frozen=True)
class Scale:
    """How much of everything a run does."""

    train_questions: int
    policy_steps: int
    batch_size: int
    rollout_questions: int
    rollout_samples: int
    rollouts_per_step: int
    prm_steps: int
    revision_questions: int
    revision_samples: int
    reviser_steps: int
    eval_per_ops: int
    eval_samples: int
    sample_batch: int
    shapes: tuple[str, str] = ("small", "large")
    revision_rows: int = 1
    """Reviser examples drawn per question (each its own context of earlier attempts)."""
    refine_steps: int = 0
    """Steps of the ``reviser-refine`` stage, which goes on training the reviser (0: none)."""


SCALES = {
    "full": Scale(
        train_questions=200_000,
        policy_steps=1000,
        batch_size=64,
        rollout_questions=3000,
        rollout_samples=4,
        rollouts_per_step=8,
        prm_steps=1500,
        revision_questions=20_000,
        revision_samples=8,
        reviser_steps=1000,
        eval_per_ops=100,
        eval_samples=16,
        sample_batch=16384,
    ),
    # Sized for this project's 2-core CPU. The revision data (293 s) and
    # reviser-refine (262 s, 2 threads) made the shipped reviser; the policy,
    # rollout and PRM stages are smaller than the shipped ones and untimed.
    "cpu": Scale(
        train_questions=20_000,
        policy_steps=300,
        batch_size=32,
        rollout_questions=300,
        rollout_samples=4,
        rollouts_per_step=4,
        prm_steps=300,
        revision_questions=3000,
        revision_samples=8,
        reviser_steps=800,
        eval_per_ops=100,
        eval_samples=16,
        sample_batch=512,
        revision_rows=4,
        refine_steps=400,
    ),
    "quick": Scale(
        train_questions=2000,
        policy_steps=30,
        batch_size=16,
        rollout_questions=12,
        rollout_samples=2,
        rollouts_per_step=2,
        prm_steps=20,
        revision_questions=40,
        revision_samples=2,
        reviser_steps=20,
        eval_per_ops=4,
        eval_samples=4,
        sample_batch=64,
    ),
    # Every stage in seconds, on tiny random-shaped models: the tests run it.
    "smoke": Scale(
        train_questions=200,
        policy_steps=3,
        batch_size=8,
        rollout_questions=3,
        rollout_samples=2,
        rollouts_per_step=2,
        prm_steps=2,
        revision_questions=4,
        revision_samples=2,
        reviser_steps=2,
        eval_per_ops=1,
        eval_samples=2,
        sample_batch=64,
        shapes=("tiny", "tiny"),
        refine_steps=2,
    ),
}
