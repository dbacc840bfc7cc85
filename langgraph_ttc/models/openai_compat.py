"""What local OpenAI-compatible servers do differently, and how the adapter copes.

llama.cpp, llama-cpp-python, Ollama and vLLM all speak the OpenAI wire format,
but each has its own habits that change results without an error:

- **BOS.** A chat template that starts with the BOS token (``{{ bos_token }}``)
  renders it as text; a server that adds its own BOS when it tokenizes a
  ``/completions`` prompt (llama.cpp does for SentencePiece-style vocabularies,
  vLLM does when the tokenizer's post-processor adds one) then reads two.
  :func:`bos_verdict` tells from one probe's ``usage.prompt_tokens``.
- **Sampling defaults.** llama.cpp samples with ``top_k=40, min_p=0.05`` (and
  llama-cpp-python with ``repeat_penalty=1.1``) unless told otherwise, and vLLM
  applies the model's ``generation_config.json``; greedy then differs from the
  model's own. :func:`sampling_fields` sends the neutral values.
- **Continuing an answer in chat.** A server that ignores
  ``continue_final_message`` (llama-cpp-python) closes the assistant turn and
  answers with empty text: :data:`EMPTY_CONTINUATION` says so.
- **Repeated samples.** Something that answers ``n`` by repeating one seed
  returns identical samples at ``temperature > 0``: :func:`identical_samples`
  spots them, :class:`IdenticalSamplesWarning` reports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from langgraph_ttc.models.errors import BackendError
from langgraph_ttc.types import Completion, GenerationRequest

__all__ = [
    "EMPTY_CONTINUATION",
    "IDENTICAL_MIN_TOKENS",
    "NEUTRAL_SAMPLING",
    "IdenticalSamplesWarning",
    "bos_unknown",
    "bos_verdict",
    "check_options",
    "identical_samples",
    "is_openai_api",
    "rejected_fields",
    "repeated",
    "sampling_fields",
    "strip_bos",
    "without",
]

NEUTRAL_SAMPLING: dict[str, Any] = {
    "top_k": 0,
    "min_p": 0.0,
    "repetition_penalty": 1.0,
    "repeat_penalty": 1.0,
}
"""The sampling fields that change results, at values that switch them off.

``top_k`` 0 is "off" for llama.cpp, llama-cpp-python (which rejects -1) and
vLLM (which prefers 0 and takes -1); SGLang and vLLM before 0.9 want -1
(pass ``top_k=-1``). The repetition penalty goes under both names in use:
``repetition_penalty`` (vLLM, SGLang, TGI) and ``repeat_penalty`` (llama.cpp).
Servers ignore the fields they do not know (vLLM logs them); OpenAI's own API
rejects them, so they are not sent there.
"""

IDENTICAL_MIN_TOKENS = 16
"""Samples shorter than this are not checked for repeats: a short step or verdict
is often the same every time at a low temperature."""

EMPTY_CONTINUATION = (
    "the server answered a chat request that continues a partial answer with empty "
    "text: it most likely ignores continue_final_message (llama-cpp-python does) and "
    "closed the assistant turn instead of continuing it. Use mode='completions' "
    "(CLI: --endpoint-mode completions, with --endpoint-tokenizer for the chat "
    "template), or continues_prefix=True if the empty answers are genuine"
)
"""The error raised when chat-mode continuations come back empty."""


class IdenticalSamplesWarning(UserWarning):
    """All samples of a request at ``temperature > 0`` came back identical."""


def is_openai_api(base_url: str) -> bool:
    """Whether ``base_url`` is OpenAI's own API, which rejects fields it does not know."""
    host = (urlparse(base_url).hostname or "").lower()
    return host == "openai.com" or host.endswith(".openai.com")


def sampling_fields(
    *,
    neutral: bool,
    top_k: int | None = None,
    min_p: float | None = None,
    repetition_penalty: float | None = None,
) -> dict[str, Any]:
    """The extra body fields for top-k, min-p and the repetition penalty.

    Args:
        neutral: Send every field, at its neutral value unless set here.
        top_k: The user's top-k, sent as given (``None``: neutral or unsent).
        min_p: The user's min-p.
        repetition_penalty: The user's repetition penalty, sent under both names.

    Returns:
        The fields to merge into the request body (empty when none apply).
    """
    out: dict[str, Any] = dict(NEUTRAL_SAMPLING) if neutral else {}
    if top_k is not None:
        out["top_k"] = top_k
    if min_p is not None:
        out["min_p"] = min_p
    if repetition_penalty is not None:
        out["repetition_penalty"] = out["repeat_penalty"] = repetition_penalty
    return out


def strip_bos(text: str, bos: str | None) -> str:
    """``text`` without one leading ``bos`` (unchanged when it does not start with it)."""
    if bos and text.startswith(bos):
        return text[len(bos) :]
    return text


def bos_verdict(server_tokens: int | None, local_tokens: int) -> bool | None:
    """Whether the server added a BOS, from a probe of a prompt sent without one.

    Args:
        server_tokens: ``usage.prompt_tokens`` the server reported for the probe.
        local_tokens: The probe prompt's length under the local tokenizer,
            without special tokens.

    Returns:
        ``True`` when the server counted exactly one token more, ``False`` when
        it counted the same, ``None`` when it cannot be told (no usage, or
        counts that differ by more: the tokenizers do not match).
    """
    if not isinstance(server_tokens, int) or isinstance(server_tokens, bool):
        return None
    if server_tokens == local_tokens + 1:
        return True
    if server_tokens == local_tokens:
        return False
    return None


def identical_samples(req: GenerationRequest, got: Sequence[Completion]) -> bool:
    """Whether a request's samples look repeated rather than sampled.

    True when the request sampled (``temperature > 0``) at least two samples,
    all came back, all are the same text, and that text is at least
    :data:`IDENTICAL_MIN_TOKENS` tokens long: independent samples of that length
    agreeing to the character is what a repeated seed produces.
    """
    if req.temperature <= 0 or req.n < 2 or len(got) < req.n:
        return False
    first = got[0]
    if first.completion_tokens < IDENTICAL_MIN_TOKENS or not first.text.strip():
        return False
    return all(c.text == first.text for c in got[1:])


def check_options(
    *,
    top_k: int | None,
    min_p: float | None,
    repetition_penalty: float | None,
    **flags: bool | None,
) -> None:
    """Check the adapter's server settings: tri-state flags and sampling fields.

    Raises:
        TypeError: For a flag that is not a bool or ``None``, or a non-int ``top_k``.
        ValueError: For a negative or non-numeric ``min_p`` or repetition penalty.
    """
    for flag, given in flags.items():
        if given not in (None, True, False):
            raise TypeError(f"{flag} must be a bool or None, got {given!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)):
        raise TypeError(f"top_k must be an int or None, got {top_k!r}")
    for field, val in (("min_p", min_p), ("repetition_penalty", repetition_penalty)):
        if val is not None and (
            isinstance(val, bool) or not isinstance(val, int | float) or val < 0
        ):
            raise ValueError(f"{field} must be a number >= 0 or None, got {val!r}")


def bos_unknown(endpoint: str, served: object, local: int, bos: str | None) -> str:
    """The warning when a BOS probe's token counts do not tell."""
    return (
        f"{endpoint}: cannot tell whether the server adds a BOS token (it counted "
        f"{served!r} prompt tokens, the local tokenizer {local}); the chat template's "
        f"BOS {bos!r} is sent as rendered. Set server_adds_bos to decide."
    )


def repeated(endpoint: str, k: int, req: GenerationRequest, got: Sequence[Completion]) -> str:
    """The warning when request ``k``'s samples came back identical."""
    return (
        f"{endpoint}: all {len(got)} samples of request {k} at temperature "
        f"{req.temperature} came back identical ({got[0].completion_tokens} tokens): "
        "the server, or something in between, probably repeats one seed for every "
        "sample. Check its seed handling (or run with supports_n=False)."
    )


def rejected_fields(exc: BackendError, sent: object, droppable: set[str]) -> list[str]:
    """The droppable fields of a request a server rejected for carrying them.

    A 400 or 422 whose message names one of the ``droppable`` fields that were
    ``sent`` means the server does not take them (``transformers serve``:
    "Unexpected fields in the request"; OpenAI: "Unrecognized request
    argument"): all the droppable fields sent are returned, to go without them.
    """
    if exc.status not in (400, 422) or not isinstance(sent, dict):
        return []
    present = sorted(k for k in sent if k in droppable)
    if not any(k in exc.message for k in present):
        return []
    return present


def without(fields: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """``fields`` less ``keys``."""
    return {k: v for k, v in fields.items() if k not in keys}
