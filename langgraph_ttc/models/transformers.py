"""A generator backed by a local Hugging Face causal LM and ``model.generate``."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph_ttc.models.base import (
    as_messages,
    check_result_shape,
    cut_at_stop,
    validate_requests,
)
from langgraph_ttc.models.errors import require_local
from langgraph_ttc.models.transformers_decoding import DECODE_CONTEXT, decode_after, tokens_to_stop
from langgraph_ttc.models.transformers_loading import (
    count_safetensors_params,
    eos_ids,
    load_model,
    load_tokenizer,
)
from langgraph_ttc.types import Completion, GenerationRequest

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class _Row:
    """One sample to draw: request ``req``, sample ``sample``."""

    req: int
    sample: int


class TransformersGenerator:
    """Samples from a local causal LM with batched ``model.generate`` calls.

    All samples of all requests are drawn in as few ``generate`` calls as
    possible: requests are grouped by ``(temperature, top_p, max_tokens, stop)``,
    their samples are left-padded into forward batches of at most ``batch_size``
    sequences, and ``num_return_sequences`` is used when every request in a batch
    asks for the same number of samples (otherwise prompts are repeated, which is
    what ``num_return_sequences`` does internally).

    Prompts: chat messages are rendered with the tokenizer's chat template and
    ``add_generation_prompt=True``. A str prompt is wrapped as one user message
    when ``chat_template`` is true, and used raw otherwise. ``prefix`` is appended
    to the rendered text, which is then tokenized as a whole (without adding
    special tokens when the template was used: the template holds BOS already).

    Stops: generation stops at EOS and at the request's stop strings. A stop
    string that is one ASCII character, one token, and inside no other token (the
    suite's step delimiter ``"\\n"``) is passed as an extra EOS id, which is free;
    other stop strings go through ``generate(stop_strings=...)``. The text is cut
    before the first stop string in any case. ``completion_tokens`` counts the
    tokens generated up to and including the one that ended the sample.

    Seeds: each forward batch seeds the torch RNG right before sampling from the
    seeds of the requests in it (a request without a seed gets one from a
    counter), so the same requests with the same seeds give the same texts.
    A request's samples depend on which requests share its batch: sampling draws
    from one RNG per batch. Calls are serialised by a lock (torch's RNG is
    global); ``agenerate`` runs the same body in a worker thread.

    Top-k: the model's ``generation_config`` decides it; when it sets none, top-k
    is off (transformers' global default of 50 would silently truncate sampling).

    Args:
        model: A model folder, a hub id, or a loaded ``PreTrainedModel``. Loaded
            lazily on first use.
        tokenizer: A tokenizer, or where to load one; defaults to the model's.
        device: Torch device; CUDA when available, else CPU. A loaded model is
            moved only when ``device`` is given.
        dtype: Torch dtype or its name; float32 on CPU and bfloat16 on CUDA by
            default. A loaded model is cast only when ``dtype`` is given.
        chat_template: Wrap str prompts as a user message and render them with
            the chat template.
        batch_size: Cap on sequences in one forward batch.
        name: Name in traces and reports; defaults to the model's path or id.
        logprobs: Also return each generated token's log-probability under the
            model (raw logits, before temperature), at the cost of keeping the
            logits of every step.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | PreTrainedModel,
        *,
        tokenizer: PreTrainedTokenizerBase | str | os.PathLike[str] | None = None,
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
        chat_template: bool = True,
        batch_size: int = 64,
        name: str | None = None,
        logprobs: bool = False,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        require_local("TransformersGenerator")
        if isinstance(model, str | os.PathLike):
            if not str(model).strip():
                raise ValueError("model must be a non-empty path or hub id")
            self._source: str | None = str(model)
            self._model: PreTrainedModel | None = None
        elif hasattr(model, "generate") and hasattr(model, "parameters"):
            self._source = None
            self._model = model
        else:
            raise TypeError(
                f"model must be a path, a hub id or a PreTrainedModel, got {type(model).__name__}"
            )
        if dtype is not None and not isinstance(dtype, str) and not _is_torch_dtype(dtype):
            raise TypeError(f"dtype must be a str or torch.dtype, got {type(dtype).__name__}")
        self._tokenizer_arg = tokenizer
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._device_arg = device
        self._dtype_arg = dtype
        self.chat_template = chat_template
        self.batch_size = batch_size
        self.logprobs = logprobs
        if name is not None:
            self.name = name
        elif self._source is not None:
            self.name = self._source
        else:
            self.name = str(getattr(model, "name_or_path", "") or type(model).__name__)
        # Known at build time where it can be (no event loop waits on it later):
        # from the headers of a local safetensors folder, or the loaded model.
        loaded: Any = self._model
        self._params: int | None = (
            count_safetensors_params(Path(str(self._source)))
            if loaded is None
            else int(sum(p.numel() for p in loaded.parameters()))
        )
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()
        self._seed_counter = itertools.count()
        self._single_token_stops: dict[str, int | None] = {}
        self._eos_ids: set[int] = set()
        self._pad_id = 0

    # ------------------------------------------------------------------ loading

    @property
    def params(self) -> int | None:
        """Parameter count, for FLOPs.

        Read when the generator is built: from the safetensors headers of a
        local folder, or from a loaded model. For a hub id (or a folder without
        safetensors) the first read loads the model; call :meth:`load` when
        building, so that no event loop waits on it.
        """
        if self._params is None:
            self._ensure_loaded()
            assert self._model is not None
            self._params = sum(p.numel() for p in self._model.parameters())
        return self._params

    def load(self) -> TransformersGenerator:
        """Load the model and tokenizer now (otherwise done on first use, off the event loop).

        Returns:
            The generator itself.
        """
        self._ensure_loaded()
        if self._params is None:
            assert self._model is not None
            self._params = sum(p.numel() for p in self._model.parameters())
        return self

    @property
    def model(self) -> PreTrainedModel:
        """The loaded model (loads it on first access)."""
        self._ensure_loaded()
        assert self._model is not None
        return self._model

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The loaded tokenizer (loads it on first access)."""
        self._ensure_loaded()
        assert self._tokenizer is not None
        return self._tokenizer

    @property
    def device(self) -> torch.device:
        """The device the model runs on."""
        return self.model.device

    def _ensure_loaded(self) -> None:
        if self._model is not None and self._tokenizer is not None:
            return
        with self._load_lock:
            if self._model is not None and self._tokenizer is not None:
                return
            model = load_model(
                self._source, self._model, device=self._device_arg, dtype=self._dtype_arg
            )
            tokenizer = load_tokenizer(self._tokenizer_arg, source=self._source, model=model)
            self._eos_ids = eos_ids(model, tokenizer)
            if not self._eos_ids:
                raise ValueError(
                    f"{self.name}: neither the model nor the tokenizer names an EOS token"
                )
            pad = tokenizer.pad_token_id
            if pad is None:
                pad = getattr(model.generation_config, "pad_token_id", None)
            self._pad_id = int(pad) if pad is not None else min(self._eos_ids)
            self._tokenizer = tokenizer
            self._model = model

    # ------------------------------------------------------------------ public API

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Sample ``n`` completions for each request.

        Args:
            requests: The batch; see ``GenerationRequest``.

        Returns:
            One list of exactly ``n`` completions per request, in request order.

        Raises:
            TypeError, ValueError: On a bad request (the message names the field).
        """
        reqs = validate_requests(requests)
        if not reqs:
            return []
        self._ensure_loaded()
        # One call at a time: torch's RNG is global, and a fast tokenizer used from
        # two threads at once can fail ("Already borrowed").
        with self._lock:
            out = self._generate_locked(reqs)
        check_result_shape(reqs, out, self.name)
        return out

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Async twin of ``generate``: runs it in a worker thread, leaving the loop free."""
        return await asyncio.to_thread(self.generate, requests)

    # ------------------------------------------------------------------ internals

    def _generate_locked(self, reqs: list[GenerationRequest]) -> list[list[Completion]]:
        seeds = [r.seed if r.seed is not None else self._default_seed() for r in reqs]
        encoded = self._encode(reqs)
        reqs = self._fit_context(reqs, encoded)
        out: list[list[Completion | None]] = [[None] * r.n for r in reqs]
        groups: dict[Hashable, list[int]] = {}
        for i, r in enumerate(reqs):
            key = (float(r.temperature), float(r.top_p), r.max_tokens, r.stop)
            groups.setdefault(key, []).append(i)
        for idxs in groups.values():
            rows = [_Row(i, j) for i in idxs for j in range(reqs[i].n)]
            if len(rows) > self.batch_size:
                # Similar lengths in one batch waste less on padding; the sort is
                # stable, so a request's samples stay together.
                rows.sort(key=lambda row: len(encoded[row.req]))
            for start in range(0, len(rows), self.batch_size):
                chunk = rows[start : start + self.batch_size]
                for row, comp in zip(
                    chunk, self._run_chunk(chunk, reqs, encoded, seeds), strict=True
                ):
                    out[row.req][row.sample] = comp
        return [[c for c in per if c is not None] for per in out]

    def _fit_context(
        self, reqs: list[GenerationRequest], encoded: list[list[int]]
    ) -> list[GenerationRequest]:
        """Cap each request's ``max_tokens`` at the room its prompt leaves in the context.

        A long revision history must end a sample early (finish ``length``),
        not fail the run; only a prompt that fills the context is an error.
        """
        limit = getattr(self.model.config, "max_position_embeddings", None)
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

    def _default_seed(self) -> int:
        return (1 << 32) + next(self._seed_counter)

    def _render(self, req: GenerationRequest) -> tuple[str, bool]:
        """The prompt text (with prefix) and whether the chat template made it."""
        tok = self.tokenizer
        if isinstance(req.prompt, str) and not self.chat_template:
            return req.prompt + req.prefix, False
        if not getattr(tok, "chat_template", None):
            raise ValueError(
                f"{self.name}: the tokenizer has no chat template; pass chat_template=False "
                "and str prompts to use raw text"
            )
        text = tok.apply_chat_template(
            as_messages(req.prompt), add_generation_prompt=True, tokenize=False
        )
        if not isinstance(text, str):
            raise TypeError(
                f"{self.name}: apply_chat_template returned {type(text).__name__}, not str"
            )
        return text + req.prefix, True

    def _encode(self, reqs: list[GenerationRequest]) -> list[list[int]]:
        rendered = [self._render(r) for r in reqs]
        encoded: list[list[int]] = [[] for _ in reqs]
        for templated in (True, False):
            idx = [i for i, (_, t) in enumerate(rendered) if t is templated]
            if not idx:
                continue
            ids = self.tokenizer([rendered[i][0] for i in idx], add_special_tokens=not templated)[
                "input_ids"
            ]
            for i, seq in zip(idx, ids, strict=True):
                encoded[i] = list(seq)
        for i, seq in enumerate(encoded):
            if not seq:
                raise ValueError(f"requests[{i}].prompt tokenizes to nothing")
        return encoded

    def _single_token_stop(self, stop: str) -> int | None:
        """The token id of ``stop`` if it can be an extra EOS id, else ``None``.

        Safe only for one ASCII character that is a token of its own and sits in
        no other token: then the stop string can only ever be generated as that
        token. Longer strings could also form across tokens.
        """
        if stop in self._single_token_stops:
            return self._single_token_stops[stop]
        tok = self.tokenizer
        found: int | None = None
        if len(stop) == 1 and stop.isascii():
            ids = tok.encode(stop, add_special_tokens=False)
            if len(ids) == 1 and tok.decode(ids) == stop:
                pieces = tok.batch_decode([[i] for i in range(len(tok))])
                holders = [i for i, p in enumerate(pieces) if stop in p]
                if holders == [ids[0]]:
                    found = ids[0]
        self._single_token_stops[stop] = found
        return found

    def _run_chunk(
        self,
        chunk: list[_Row],
        reqs: list[GenerationRequest],
        encoded: list[list[int]],
        seeds: list[int],
    ) -> list[Completion]:
        import torch

        model: Any = self.model
        tok = self.tokenizer
        first = reqs[chunk[0].req]
        counts: dict[int, int] = {}
        for row in chunk:
            counts[row.req] = counts.get(row.req, 0) + 1
        # Greedy decoding refuses num_return_sequences > 1: repeat the prompts instead.
        uniform = len(set(counts.values())) == 1 and (
            first.temperature > 0 or len(chunk) == len(counts)
        )
        prompts = [encoded[i] for i in counts] if uniform else [encoded[r.req] for r in chunk]
        num_return = next(iter(counts.values())) if uniform else 1

        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self._pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for k, p in enumerate(prompts):
            input_ids[k, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            attention[k, width - len(p) :] = 1

        eos = set(self._eos_ids)
        slow_stops: list[str] = []
        for s in first.stop:
            sid = self._single_token_stop(s)
            if sid is None:
                slow_stops.append(s)
            else:
                eos.add(sid)
        sampling = first.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": first.max_tokens,
            "do_sample": sampling,
            "eos_token_id": sorted(eos),
            "pad_token_id": self._pad_id,
            "num_return_sequences": num_return,
        }
        if sampling:
            kwargs["temperature"] = float(first.temperature)
            kwargs["top_p"] = float(first.top_p)
            if getattr(model.generation_config, "top_k", None) is None:
                kwargs["top_k"] = 0
        if slow_stops:
            kwargs["stop_strings"] = slow_stops
            kwargs["tokenizer"] = tok
        wants_lp = self.logprobs or any(reqs[r.req].logprobs for r in chunk)
        if wants_lp:
            kwargs["output_logits"] = True
            kwargs["return_dict_in_generate"] = True

        device = model.device
        if sampling:
            torch.manual_seed(_chunk_seed([(seeds[r.req], r.sample) for r in chunk]))
        generated = model.generate(
            input_ids=input_ids.to(device), attention_mask=attention.to(device), **kwargs
        )
        sequences = generated.sequences if wants_lp else generated
        new = sequences[:, width:]
        token_lp: list[list[float]] | None = None
        if wants_lp:
            logits = torch.stack(generated.logits, dim=1).float()
            token_lp = (
                torch.log_softmax(logits, dim=-1).gather(-1, new.unsqueeze(-1)).squeeze(-1).tolist()
            )
        new_rows: list[list[int]] = new.tolist()

        return self._finish(chunk, prompts, num_return, new_rows, token_lp, eos, first, encoded)

    def _finish(
        self,
        chunk: list[_Row],
        prompts: list[list[int]],
        num_return: int,
        new_rows: list[list[int]],
        token_lp: list[list[float]] | None,
        eos: set[int],
        req: GenerationRequest,
        encoded: list[list[int]],
    ) -> list[Completion]:
        tok = self.tokenizer
        ends: list[int | None] = []
        contents: list[list[int]] = []
        contexts: list[list[int]] = []
        for k, ids in enumerate(new_rows):
            end = next((t for t, x in enumerate(ids) if x in eos), None)
            ends.append(end)
            contents.append(ids if end is None else ids[:end])
            contexts.append(prompts[k // num_return][-DECODE_CONTEXT:])
        texts = decode_after(tok, contexts, contents)

        out: list[Completion] = []
        for k, row in enumerate(chunk):
            ids, end = new_rows[k], ends[k]
            text, found = cut_at_stop(texts[k], req.stop)
            if found:
                # The sample ended where its first stop string was complete.
                n_tok = tokens_to_stop(tok, contexts[k], contents[k], req.stop)
                finish = "stop"
            elif end is not None:
                n_tok, finish = end + 1, "stop"
            else:
                n_tok, finish = len(ids), "length"
            lp = tuple(token_lp[k][:n_tok]) if token_lp is not None else None
            out.append(
                Completion(
                    text=text,
                    finish_reason=finish,
                    prompt_tokens=len(encoded[row.req]),
                    completion_tokens=n_tok,
                    logprobs=lp,
                )
            )
        return out


# ---------------------------------------------------------------------- helpers


def _is_torch_dtype(value: object) -> bool:
    # A torch.dtype exists only once torch is imported: no import needed to tell.
    return type(value).__module__ == "torch" and type(value).__name__ == "dtype"


def _chunk_seed(material: list[tuple[int, int]]) -> int:
    digest = hashlib.blake2b(repr(material).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)
