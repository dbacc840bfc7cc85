"""Prompts for ``TransformersGenerator``: rendering, tokenizing and fitting them in the context."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from langgraph_ttc.models.base import as_messages
from langgraph_ttc.types import GenerationRequest

__all__ = ["encode_prompts", "fit_context", "render_prompt"]


def render_prompt(
    tok: Any, req: GenerationRequest, *, chat_template: bool, name: str
) -> tuple[str, bool]:
    """The prompt text (with prefix) and whether the chat template made it.

    Chat messages are rendered with the tokenizer's chat template and
    ``add_generation_prompt=True``; a str prompt is wrapped as one user
    message when ``chat_template`` is true, and used raw otherwise.

    Raises:
        ValueError: If the template is needed and the tokenizer has none.
        TypeError: If the template does not render to a string.
    """
    if isinstance(req.prompt, str) and not chat_template:
        return req.prompt + req.prefix, False
    if not getattr(tok, "chat_template", None):
        raise ValueError(
            f"{name}: the tokenizer has no chat template; pass chat_template=False "
            "and str prompts to use raw text"
        )
    text = tok.apply_chat_template(
        as_messages(req.prompt), add_generation_prompt=True, tokenize=False
    )
    if not isinstance(text, str):
        raise TypeError(f"{name}: apply_chat_template returned {type(text).__name__}, not str")
    return text + req.prefix, True


def encode_prompts(
    tok: Any, reqs: list[GenerationRequest], *, chat_template: bool, name: str
) -> list[list[int]]:
    """Each request's prompt ids: the rendered text tokenized as a whole.

    Special tokens are added only to raw text: the template holds BOS already.

    Raises:
        ValueError: If a prompt tokenizes to nothing (naming the request).
    """
    rendered = [render_prompt(tok, r, chat_template=chat_template, name=name) for r in reqs]
    encoded: list[list[int]] = [[] for _ in reqs]
    for templated in (True, False):
        idx = [i for i, (_, t) in enumerate(rendered) if t is templated]
        if not idx:
            continue
        ids = tok([rendered[i][0] for i in idx], add_special_tokens=not templated)["input_ids"]
        for i, seq in zip(idx, ids, strict=True):
            encoded[i] = list(seq)
    for i, seq in enumerate(encoded):
        if not seq:
            raise ValueError(f"requests[{i}].prompt tokenizes to nothing")
    return encoded


def fit_context(
    reqs: list[GenerationRequest], encoded: list[list[int]], limit: object
) -> list[GenerationRequest]:
    """Cap each request's ``max_tokens`` at the room its prompt leaves in a context of ``limit``.

    A long revision history must end a sample early (finish ``length``),
    not fail the run; only a prompt that fills the context is an error.

    Raises:
        ValueError: If a prompt fills the context (naming the request).
    """
    if not isinstance(limit, int):
        return reqs
    fitted = []
    for i, (r, ids) in enumerate(zip(reqs, encoded, strict=True)):
        if len(ids) >= limit:
            raise ValueError(
                f"requests[{i}]: the prompt ({len(ids)} tokens) fills the model's context "
                f"of {limit} tokens"
            )
        room = limit - len(ids)
        fitted.append(replace(r, max_tokens=room) if r.max_tokens > room else r)
    return fitted
