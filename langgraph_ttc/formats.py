"""Text formats the library and the bundled models agree on.

These are plain constants, beside the types, so that the graph code, the
verifiers and the training pipeline share them without importing each other
(or transformers).
"""

from __future__ import annotations

STEP_DELIMITER = "\n"
"""Steps are lines: the verifiers and the step-level search cut solutions here."""

STEP_TAG = "ки"
"""Math-Shepherd's step tag: a step-tag PRM is read at this token after each step."""

GOOD_TOKEN, BAD_TOKEN = "+", "-"
"""The PRM's label tokens at the step tag: P(good) is the step's score."""

REVISE_PROMPT = "Revise."
"""The user turn that asks the reviser for a new attempt."""
