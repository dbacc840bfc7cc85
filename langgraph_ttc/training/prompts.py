"""The prompts the bundled models are trained and measured on.

They match what the library's adapters send at inference: the chat template
with a generation prompt, and for the reviser, each earlier attempt followed
by a revise turn.
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

from langgraph_ttc.formats import REVISE_PROMPT

__all__ = ["chat_prompt", "revision_messages"]


def chat_prompt(tok: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> str:
    """The rendered prompt the adapters send: template plus generation prompt."""
    return str(tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def revision_messages(question: str, attempts: Sequence[str]) -> list[dict[str, str]]:
    """The reviser's context: the question, then each earlier attempt and a revise turn."""
    messages = [{"role": "user", "content": question}]
    for attempt in attempts:
        messages += [
            {"role": "assistant", "content": attempt},
            {"role": "user", "content": REVISE_PROMPT},
        ]
    return messages
