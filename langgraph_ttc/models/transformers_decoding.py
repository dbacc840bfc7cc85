"""Reading generated ids back as text: decoding after the prompt, where a stop string ended,
which stops can be EOS ids, and the completions of finished rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph_ttc.models.base import cut_at_stop
from langgraph_ttc.types import Completion

__all__ = [
    "DECODE_CONTEXT",
    "RowOutput",
    "decode_after",
    "finish_rows",
    "single_token_stop",
    "tokens_to_stop",
]

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


def single_token_stop(tok: Any, stop: str) -> int | None:
    """The token id of ``stop`` if it can be an extra EOS id, else ``None``.

    Safe only for one ASCII character that is a token of its own and sits in
    no other token: then the stop string can only ever be generated as that
    token. Longer strings could also form across tokens.
    """
    if len(stop) == 1 and stop.isascii():
        ids = tok.encode(stop, add_special_tokens=False)
        if len(ids) == 1 and tok.decode(ids) == stop:
            pieces = tok.batch_decode([[i] for i in range(len(tok))])
            holders = [i for i, p in enumerate(pieces) if stop in p]
            if holders == [ids[0]]:
                return int(ids[0])
    return None


@dataclass(frozen=True)
class RowOutput:
    """What one sampled row produced, before it becomes a ``Completion``.

    Attributes:
        prompt: The row's prompt ids (unpadded).
        ids: The generated ids (padded to the batch's longest).
        logprobs: Each generated id's log-probability, when asked for.
        top: Per generated position, the ``(token id, logprob)`` pairs of the most likely tokens.
    """

    prompt: list[int]
    ids: list[int]
    logprobs: list[float] | None = None
    top: list[list[tuple[int, float]]] | None = None


def finish_rows(
    tok: Any,
    rows: list[RowOutput],
    eos: set[int],
    stop: tuple[str, ...],
    token_text: Callable[[int], str],
) -> list[Completion]:
    """Turn generated rows of one stop setting into completions: text, finish, honest counts.

    A row ends at its first EOS (or single-token stop) id, or where its text
    first holds a stop string; ``completion_tokens`` counts the tokens up to and
    including the one that ended it, and its log-probabilities are cut alike.

    Args:
        tok: The tokenizer.
        rows: The rows, in the order the completions are wanted.
        eos: Ids that end a row.
        stop: The rows' stop strings.
        token_text: A token id's text, for ``top_logprobs``.
    """
    ends: list[int | None] = []
    contents: list[list[int]] = []
    contexts: list[list[int]] = []
    for row in rows:
        end = next((t for t, x in enumerate(row.ids) if x in eos), None)
        ends.append(end)
        contents.append(row.ids if end is None else row.ids[:end])
        contexts.append(row.prompt[-DECODE_CONTEXT:])
    texts = decode_after(tok, contexts, contents)

    out: list[Completion] = []
    for k, row in enumerate(rows):
        end = ends[k]
        text, found = cut_at_stop(texts[k], stop)
        if found:
            # The sample ended where its first stop string was complete.
            n_tok = tokens_to_stop(tok, contexts[k], contents[k], stop)
            finish = "stop"
        elif end is not None:
            n_tok, finish = end + 1, "stop"
        else:
            n_tok, finish = len(row.ids), "length"
        top: tuple[dict[str, float], ...] | None = None
        if row.top is not None:
            top = tuple(_top_dict(pos, token_text) for pos in row.top[:n_tok])
        out.append(
            Completion(
                text=text,
                finish_reason=finish,
                prompt_tokens=len(row.prompt),
                completion_tokens=n_tok,
                logprobs=tuple(row.logprobs[:n_tok]) if row.logprobs is not None else None,
                top_logprobs=top,
            )
        )
    return out


def _top_dict(pairs: list[tuple[int, float]], token_text: Callable[[int], str]) -> dict[str, float]:
    """Token text -> logprob, most likely first; two ids with one text keep the likelier."""
    out: dict[str, float] = {}
    for tid, lp in pairs:
        out.setdefault(token_text(tid), lp)
    return out
