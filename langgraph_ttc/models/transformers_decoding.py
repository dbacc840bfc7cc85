"""Reading generated ids back as text: decoding after the prompt, and where a stop string ended."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph_ttc.models.base import cut_at_stop

__all__ = ["DECODE_CONTEXT", "decode_after", "tokens_to_stop"]

DECODE_CONTEXT = 4
"""Tokens of prompt context decoded with the generated ids, so that tokenizers
which drop a leading space on the first decoded token (SentencePiece) keep it."""


def decode_after(tok: Any, contexts: list[list[int]], contents: list[list[int]]) -> list[str]:
    """Decode generated ids as they read after the prompt (keeps leading spaces)."""
    both = tok.batch_decode(
        [c + g for c, g in zip(contexts, contents, strict=True)],
        skip_special_tokens=True,
        clean_up_tokenization_spaces=False,
    )
    heads = tok.batch_decode(contexts, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    out: list[str] = []
    for k, (full, head) in enumerate(zip(both, heads, strict=True)):
        if full.startswith(head):
            out.append(full[len(head) :])
        else:
            out.append(
                tok.decode(
                    contents[k], skip_special_tokens=True, clean_up_tokenization_spaces=False
                )
            )
    return out


def tokens_to_stop(tok: Any, context: list[int], ids: list[int], stop: Sequence[str]) -> int:
    """The fewest generated tokens whose text holds a stop string (binary search)."""
    lo, hi = 1, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if cut_at_stop(decode_after(tok, [context], [ids[:mid]])[0], stop)[1]:
            hi = mid
        else:
            lo = mid + 1
    return hi
