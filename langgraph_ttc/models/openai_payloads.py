"""What goes over the wire to an OpenAI-compatible endpoint, and what comes back.

Request bodies are built from prepared ``GenerationRequest``s; choices are read
out of response bodies, checked, and put in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from langgraph_ttc.models.base import cut_at_stop, estimate_tokens, split_total
from langgraph_ttc.models.openai_faults import malformed
from langgraph_ttc.types import Completion, GenerationRequest

__all__ = [
    "Choice",
    "PreparedRequest",
    "count_prompt",
    "count_text",
    "parse_completions",
    "read_choices",
    "read_logprobs",
    "request_kwargs",
]

Choice = tuple[int, str, str | None, Any]
"""One choice of a response: its index, text, finish reason and raw logprobs."""


@dataclass
class PreparedRequest:
    """One request turned into what the endpoint takes.

    Attributes:
        req: The request.
        messages: Chat messages (chat mode), else ``None``.
        prompt: The rendered prompt text (completions mode), else ``None``.
        extra_body: Extra JSON fields for this request.
        bos: The BOS text the chat template rendered at the start of ``prompt``
            (completions mode), which a server that adds its own BOS must not get.
    """

    req: GenerationRequest
    messages: list[dict[str, str]] | None
    prompt: str | None
    extra_body: dict[str, Any]
    bos: str | None = None


def request_kwargs(
    p: PreparedRequest,
    n: int,
    seed: int | None,
    *,
    model: str,
    logprobs: bool,
    top_logprobs: int = 0,
) -> dict[str, Any]:
    """The keyword arguments of the SDK's ``create`` call for one prepared request.

    Chat asks for log-probabilities with ``logprobs: true`` (and
    ``top_logprobs: k`` for alternatives); completions with ``logprobs: k``,
    at least 1 so that every server returns the chosen token's.

    Args:
        p: The prepared request.
        n: Choices to ask for (sent only when more than one).
        seed: The sampling seed, if any.
        model: The model name the endpoint serves.
        logprobs: Ask for token log-probabilities.
        top_logprobs: Alternatives per position to ask for (0: none).
    """
    req = p.req
    kw: dict[str, Any] = {
        "model": model,
        "max_tokens": req.max_tokens,
        "temperature": float(req.temperature),
        "top_p": float(req.top_p),
    }
    if n > 1:
        kw["n"] = n
    if req.stop:
        kw["stop"] = list(req.stop)
    if seed is not None:
        kw["seed"] = seed
    if logprobs or top_logprobs:
        if p.messages is not None:
            kw["logprobs"] = True
            if top_logprobs:
                kw["top_logprobs"] = top_logprobs
        else:
            kw["logprobs"] = max(top_logprobs, 1)
    if p.extra_body:
        kw["extra_body"] = p.extra_body
    if p.messages is not None:
        kw["messages"] = p.messages
    else:
        kw["prompt"] = p.prompt
    return kw


def read_choices(
    body: dict[str, Any], *, mode: Literal["chat", "completions"], n: int, backend: str
) -> list[Choice]:
    """The first ``n`` choices of a response body, in index order.

    Args:
        body: The parsed JSON body.
        mode: ``chat`` reads ``message.content``, ``completions`` reads ``text``.
        n: How many choices to keep.
        backend: The generator's name, for errors.

    Raises:
        BackendError: (retryable) If there are no choices, or one has no text.
    """
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise malformed(backend, f"no choices in the response: {json.dumps(body)[:200]}")
    rows: list[Choice] = []
    for k, ch in enumerate(choices):
        if not isinstance(ch, dict):
            raise malformed(backend, f"choice {k} is not an object: {ch!r}")
        if mode == "chat":
            msg = ch.get("message")
            text = msg.get("content") if isinstance(msg, dict) else None
        else:
            text = ch.get("text")
        if not isinstance(text, str):
            raise malformed(backend, f"choice {k} has no text: {json.dumps(ch)[:200]}")
        index = ch.get("index")
        rows.append(
            (
                index if isinstance(index, int) else k,
                text,
                ch.get("finish_reason"),
                ch.get("logprobs"),
            )
        )
    rows.sort(key=lambda r: r[0])
    return rows[:n]


def read_logprobs(
    lp: Any, text: str, found: bool, *, top: int
) -> tuple[tuple[float, ...] | None, tuple[dict[str, float], ...] | None]:
    """A choice's token logprobs and top alternatives, trimmed to the returned text.

    Reads the chat shape (``{"content": [{"token", "logprob", "top_logprobs"}]}``)
    and the completions shape (``{"tokens", "token_logprobs", "top_logprobs"}``).
    The tokens kept are those that make up ``text``, plus the one holding the
    start of the stop string when ``found`` (its probability is part of the
    sample's).

    Args:
        lp: The choice's raw ``logprobs`` field.
        text: The text kept (cut before the first stop string).
        found: Whether a stop string was cut off.
        top: Alternatives asked for (0: ``top_logprobs`` is ``None``).

    Returns:
        ``(logprobs, top_logprobs)``; either is ``None`` when the server gave none
        or gave them in a shape neither API uses.
    """
    rows = _logprob_rows(lp)
    if rows is None:
        return None, None
    values: list[float] = []
    alts: list[dict[str, float] | None] = []
    covered = 0
    for token, value, alt in rows:
        if covered > len(text) or (covered == len(text) and not found):
            break
        values.append(value)
        alts.append(alt)
        covered += len(token)
        if covered > len(text):
            break  # this token holds the start of the stop string
    if not top or any(a is None for a in alts):
        return tuple(values), None
    return tuple(values), tuple(a for a in alts if a is not None)


_Row = tuple[str, float, dict[str, float] | None]


def _logprob_rows(lp: Any) -> list[_Row] | None:
    """``(token, logprob, alternatives)`` per generated token, from either API's shape."""
    if not isinstance(lp, dict):
        return None
    rows: list[_Row] = []
    content = lp.get("content")
    if isinstance(content, list):  # chat
        for entry in content:
            if not isinstance(entry, dict) or not _is_num(entry.get("logprob")):
                return None
            alts = entry.get("top_logprobs")
            alt: dict[str, float] | None = None
            if isinstance(alts, list) and alts:
                alt = {
                    str(a.get("token", "")): float(a["logprob"])
                    for a in alts
                    if isinstance(a, dict) and _is_num(a.get("logprob"))
                }
            rows.append((str(entry.get("token", "")), float(entry["logprob"]), alt))
        return rows
    tokens, values = lp.get("tokens"), lp.get("token_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list):
        return None
    tops = lp.get("top_logprobs")
    if len(tokens) != len(values) or not all(_is_num(v) for v in values):
        return None
    for k, (token, value) in enumerate(zip(tokens, values, strict=True)):
        one = tops[k] if isinstance(tops, list) and k < len(tops) else None
        alt = (
            {str(t): float(v) for t, v in one.items() if _is_num(v)}
            if isinstance(one, dict) and one
            else None
        )
        rows.append((str(token), float(value), alt))
    return rows


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def count_text(tok: Any, text: str) -> int:
    """Tokens in ``text``: counted with ``tok`` when given, else estimated."""
    if tok is not None:
        return len(tok.encode(text, add_special_tokens=False))
    return estimate_tokens(text)


def count_prompt(tok: Any, p: PreparedRequest) -> int:
    """Tokens the server reads for ``p``, when its response reports none."""
    if p.prompt is not None:
        return count_text(tok, p.prompt)
    assert p.messages is not None
    if tok is not None and getattr(tok, "chat_template", None):
        rendered = tok.apply_chat_template(
            p.messages[:-1] if p.req.prefix else p.messages,
            add_generation_prompt=True,
            tokenize=False,
        )
        return len(tok.encode(str(rendered) + p.req.prefix, add_special_tokens=False))
    # A few template tokens per message on top of the content.
    return sum(count_text(tok, m["content"]) + 4 for m in p.messages)


def parse_completions(
    body: dict[str, Any],
    p: PreparedRequest,
    n: int,
    *,
    mode: Literal["chat", "completions"],
    backend: str,
    tokenizer: Any,
    logprobs: bool,
) -> list[Completion]:
    """The completions in a response body: texts cut at the stops, tokens counted.

    Token counts come from the body's ``usage`` (the prompt's spread evenly over
    the choices, the completion's in proportion to each text's length), else
    from ``tokenizer`` (estimated without one).

    Args:
        body: The parsed JSON body.
        p: The prepared request it answers.
        n: Choices asked for.
        mode: The endpoint kind.
        backend: The generator's name, for errors.
        tokenizer: For counting when the body has no ``usage``; may be ``None``.
        logprobs: Fill ``Completion.logprobs``.

    Raises:
        BackendError: (retryable) On a malformed body.
    """
    rows = read_choices(body, mode=mode, n=n, backend=backend)
    req = p.req
    texts: list[str] = []
    finishes: list[str] = []
    lps: list[tuple[Any, Any]] = []
    for _, raw_text, reason, lp in rows:
        text, found = cut_at_stop(raw_text, req.stop)
        texts.append(text)
        finishes.append("stop" if found or reason != "length" else "length")
        asked = logprobs or req.top_logprobs > 0
        lps.append(read_logprobs(lp, text, found, top=req.top_logprobs) if asked else (None, None))
    usage = body.get("usage")
    pt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    ct = usage.get("completion_tokens") if isinstance(usage, dict) else None
    k = len(rows)
    # The prompt was read once for all choices: its count is spread over them.
    prompt_total = pt if isinstance(pt, int) and pt >= 0 else count_prompt(tokenizer, p)
    prompt_parts = split_total(prompt_total, [1.0] * k)
    if isinstance(ct, int) and ct >= 0:
        completion_parts = split_total(ct, [len(t) + 1 for t in texts])
    else:
        completion_parts = [
            count_text(tokenizer, t) + (1 if f == "stop" else 0)
            for t, f in zip(texts, finishes, strict=True)
        ]
    return [
        Completion(
            text=texts[i],
            finish_reason=finishes[i],
            prompt_tokens=prompt_parts[i],
            completion_tokens=completion_parts[i],
            logprobs=lps[i][0] if logprobs else None,
            top_logprobs=lps[i][1],
        )
        for i in range(k)
    ]
