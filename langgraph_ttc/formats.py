"""Text formats the library and the bundled models agree on.

These are plain constants, beside the types, so that the graph code, the
verifiers and the training pipeline share them without importing each other
(or transformers).
"""

from __future__ import annotations

STEP_DELIMITER = "\n"
"""The default step delimiter: the bundled models write one step a line.

A graph's ``step_delimiter`` option (and ``TTCContext.step_delimiter`` for one
run) replace it; the verifiers take their own ``step_delimiter``, which must agree.
"""

CHAT_STEP_DELIMITER = "\n\n"
"""The step delimiter of chat models, which separate steps with a blank line."""

STEP_TAG = "ки"
"""Math-Shepherd's step tag: a step-tag PRM is read at this token after each step."""

GOOD_TOKEN, BAD_TOKEN = "+", "-"
"""The PRM's label tokens at the step tag: P(good) is the step's score."""

REVISE_PROMPT = "Revise."
"""The user turn that asks the reviser for a new attempt."""
