"""A generator backed by a local Hugging Face causal LM and ``model.generate``."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph_ttc.models.base import check_result_shape, validate_requests
from langgraph_ttc.models.coalesce import DEFAULT_MAX_WAIT_S, Coalescer, CoalescerStats
from langgraph_ttc.models.errors import require_local
from langgraph_ttc.models.threads import apply_threads, use_threads
from langgraph_ttc.models.transformers_decoding import RowOutput, finish_rows, single_token_stop
from langgraph_ttc.models.transformers_loading import (
    count_safetensors_params,
    eos_ids,
    load_model,
    load_tokenizer,
)
from langgraph_ttc.models.transformers_prompts import encode_prompts, fit_context
from langgraph_ttc.models.transformers_sampling import RowSampler, row_key
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
    possible: requests are grouped by ``(max_tokens, stop)`` (temperature and
    top-p are per sample), and their samples are left-padded into forward
    batches of at most ``batch_size`` sequences (sorted by prompt length when
    there are more).

    Shared batches: concurrent calls (``generate`` from several threads,
    ``agenerate`` from concurrent tasks: ``graph.abatch`` or many ``ainvoke``
    of one compiled graph) are coalesced by a ``Coalescer``: the calls that
    arrive while a batch runs form the next one, up to ``pool_size`` samples,
    and once calls have been seen to overlap a batch waits up to
    ``max_wait_s`` for company (a lone caller never waits). Every call gets
    exactly what it would get alone: its own seeds, stops and token counts.
    A pool larger than a forward batch pays: sorted by prompt length, samples
    of similar length share a forward batch, which then ends sooner
    (majority-of-8 on 64 questions, bundled policy, CPU, 1 thread: 3.9 s in
    pools of 64 samples, 2.4 s in pools of 512).

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

    Seeds: sample ``j`` of a request seeded ``s`` draws from its own stream, a
    hash of ``(s, j)`` and the decoding step (``RowSampler``: temperature, the
    model's top-k and the request's top-p applied per sample, then inverse-CDF
    sampling), never from torch's global RNG. So a request's samples depend on
    its seed alone, not on what shares its batch nor on ``batch_size`` (on
    one device and dtype; only a matrix kernel rounding differently for
    another batch shape could move a draw lying within about 1e-7 of a
    boundary: none in 44,000 sampled tokens, alone against pooled). A
    request without a seed gets one from a counter. The model's other sampling
    settings (repetition penalty and the like) apply as in ``generate``.

    Top-k: the model's ``generation_config`` decides it; when it sets none, top-k
    is off (transformers' global default of 50 would silently truncate sampling).

    Threads: on CPU, loading sets torch's thread count by
    :func:`~langgraph_ttc.models.threads.choose_threads` (1 for a model under
    100M parameters unless ``threads``, ``TTC_TORCH_THREADS`` or
    ``OMP_NUM_THREADS`` says otherwise): torch's default collapses on a busy machine.

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
        pool_size: Cap on the samples that concurrent calls pool into one
            shared batch (run as forward batches of ``batch_size``); ``None``:
            8 x ``batch_size``. A call larger than this runs alone.
        max_wait_s: How long a batch waits for concurrent calls, once calls have
            been seen to overlap (seconds; 0: never wait, only pool the calls
            that arrive while a batch runs).
        threads: Torch CPU threads; ``None`` applies the rule above.
        name: Name in traces and reports; defaults to the model's path or id.
        logprobs: Also return each generated token's log-probability under the
            model (raw logits, before temperature), at the cost of keeping the
            logits of every step. A request's ``logprobs`` and ``top_logprobs``
            ask the same for its own samples; ``top_logprobs`` keys each
            position's most likely tokens by their text (one token decoded alone).
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
        pool_size: int | None = None,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        threads: int | None = None,
        name: str | None = None,
        logprobs: bool = False,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if pool_size is not None and (
            isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1
        ):
            raise ValueError(f"pool_size must be a positive int or None, got {pool_size!r}")
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise ValueError(f"threads must be a positive int or None, got {threads!r}")
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
        self.threads = threads
        self._load_lock = threading.Lock()
        # A fast tokenizer used from two threads at once can fail ("Already borrowed").
        self._tok_lock = threading.RLock()
        self._seed_counter = itertools.count()
        self._single_token_stops: dict[str, int | None] = {}
        self._token_texts: dict[int, str] = {}
        self._eos_ids: set[int] = set()
        self._pad_id = 0
        self._top_k = 0
        self._thread_count: int | None = None
        self._coalescer: Coalescer[_Call, list[list[Completion]]] = Coalescer(
            self._run_calls,
            max_size=pool_size or 8 * batch_size,
            max_wait_s=max_wait_s,
            size=_call_rows,
            name=f"generator:{self.name}",
        )

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
            top_k = getattr(model.generation_config, "top_k", None)
            self._top_k = int(top_k) if isinstance(top_k, int) and top_k > 0 else 0
            self._thread_count = apply_threads(model.device, self._params, self.threads)
            self._tokenizer = tokenizer
            self._model = model

    # ------------------------------------------------------------------ public API

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Sample ``n`` completions for each request.

        Concurrent calls (from other threads, or ``agenerate`` on an event
        loop) share forward batches; the result is the same as alone.

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
        out = self._coalescer.call(self._prepare(reqs))
        check_result_shape(reqs, out, self.name)
        return out

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Async twin of ``generate``: the loop stays free; concurrent calls share batches."""
        reqs = validate_requests(requests)
        if not reqs:
            return []
        # Loading and tokenizing are CPU work: off the loop.
        prepared = await asyncio.to_thread(self._prepare, reqs)
        out = await self._coalescer.acall(prepared)
        check_result_shape(reqs, out, self.name)
        return out

    @property
    def coalescing(self) -> CoalescerStats:
        """How many batches were run and how many calls shared one (see ``Coalescer``)."""
        return self._coalescer.stats

    # ------------------------------------------------------------------ internals

    def _prepare(self, reqs: list[GenerationRequest]) -> _Call:
        """Seeds, token ids and context-capped requests of one call (in the caller's thread)."""
        self._ensure_loaded()
        seeds = [r.seed if r.seed is not None else self._default_seed() for r in reqs]
        with self._tok_lock:
            encoded = encode_prompts(
                self.tokenizer, reqs, chat_template=self.chat_template, name=self.name
            )
        limit = getattr(self.model.config, "max_position_embeddings", None)
        return _Call(fit_context(reqs, encoded, limit), encoded, seeds)

    def _run_calls(self, calls: list[_Call]) -> list[list[list[Completion]] | BaseException]:
        """The coalescer's batch: every call's requests drawn together, split back per call."""
        use_threads(self._thread_count)  # the batch thread may predate the setting
        reqs = [r for c in calls for r in c.reqs]
        encoded = [e for c in calls for e in c.encoded]
        seeds = [s for c in calls for s in c.seeds]
        flat = self._generate_rows(reqs, encoded, seeds)
        out: list[list[list[Completion]] | BaseException] = []
        start = 0
        for c in calls:
            out.append(flat[start : start + len(c.reqs)])
            start += len(c.reqs)
        return out

    def _generate_rows(
        self, reqs: list[GenerationRequest], encoded: list[list[int]], seeds: list[int]
    ) -> list[list[Completion]]:
        out: list[list[Completion | None]] = [[None] * r.n for r in reqs]
        groups: dict[Hashable, list[int]] = {}
        for i, r in enumerate(reqs):
            # Temperature and top-p are per row (RowSampler); length and stops are per call.
            groups.setdefault((r.max_tokens, r.stop), []).append(i)
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

    def _default_seed(self) -> int:
        with self._tok_lock:
            return (1 << 32) + next(self._seed_counter)

    def _single_token_stop(self, stop: str) -> int | None:
        """The token id of ``stop`` if it can be an extra EOS id (see ``single_token_stop``)."""
        with self._tok_lock:
            if stop not in self._single_token_stops:
                self._single_token_stops[stop] = single_token_stop(self.tokenizer, stop)
            return self._single_token_stops[stop]

    def _token_text(self, token_id: int) -> str:
        """A token's text, as ``top_logprobs`` keys it (cached; tokenizer lock held)."""
        if token_id not in self._token_texts:
            text = self.tokenizer.decode(
                [token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False
            )
            self._token_texts[token_id] = str(text)
        return self._token_texts[token_id]

    def _run_chunk(
        self,
        chunk: list[_Row],
        reqs: list[GenerationRequest],
        encoded: list[list[int]],
        seeds: list[int],
    ) -> list[Completion]:
        import torch
        from transformers import LogitsProcessorList

        model: Any = self.model
        first = reqs[chunk[0].req]
        # Every sample is its own row (no num_return_sequences, which greedy
        # decoding refuses): the same compute, since generate repeats prompts too.
        prompts = [encoded[r.req] for r in chunk]
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
        device = model.device
        sampler = RowSampler(
            [row_key(seeds[r.req], r.sample) for r in chunk],
            [float(reqs[r.req].temperature) for r in chunk],
            [float(reqs[r.req].top_p) for r in chunk],
            top_k=self._top_k,
            prompt_width=width,
            device=device,
        )
        kwargs: dict[str, Any] = {
            "max_new_tokens": first.max_tokens,
            # The sampler draws each row from its own stream and leaves one token
            # finite; greedy decoding then takes it.
            "do_sample": False,
            "logits_processor": LogitsProcessorList([sampler]),
            "eos_token_id": sorted(eos),
            "pad_token_id": self._pad_id,
        }
        if slow_stops:
            kwargs["stop_strings"] = slow_stops
            kwargs["tokenizer"] = self.tokenizer
        want_lp = [self.logprobs or reqs[r.req].logprobs for r in chunk]
        want_top = [reqs[r.req].top_logprobs for r in chunk]
        if any(want_lp) or any(want_top):
            kwargs["output_logits"] = True
            kwargs["return_dict_in_generate"] = True

        # generate reads the tokenizer for stop strings: hold it then.
        with torch.inference_mode(), self._tok_lock if slow_stops else contextlib.nullcontext():
            generated = model.generate(
                input_ids=input_ids.to(device), attention_mask=attention.to(device), **kwargs
            )
        sequences = generated.sequences if "output_logits" in kwargs else generated
        new = sequences[:, width:]
        token_lp: list[list[float]] | None = None
        top: list[list[list[tuple[int, float]]] | None] = [None] * len(chunk)
        if "output_logits" in kwargs:
            # Raw logits (before temperature): the model's own probabilities.
            logp = torch.log_softmax(torch.stack(generated.logits, dim=1).float(), dim=-1)
            token_lp = logp.gather(-1, new.unsqueeze(-1)).squeeze(-1).tolist()
            k_max = max(want_top)
            if k_max:
                values, indices = logp.topk(k_max, dim=-1)
                vals, ids = values.tolist(), indices.tolist()
                for k, want in enumerate(want_top):
                    if want:
                        top[k] = [
                            list(zip(i[:want], v[:want], strict=True))
                            for i, v in zip(ids[k], vals[k], strict=True)
                        ]
        new_rows: list[list[int]] = new.tolist()
        rows = [
            RowOutput(
                prompt=prompts[k],
                ids=new_rows[k],
                logprobs=token_lp[k] if token_lp is not None and want_lp[k] else None,
                top=top[k],
            )
            for k in range(len(chunk))
        ]
        with self._tok_lock:
            return finish_rows(self.tokenizer, rows, eos, first.stop, self._token_text)


# ---------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Call:
    """One ``generate`` call, ready to draw: context-capped requests, prompt ids, seeds."""

    reqs: list[GenerationRequest]
    encoded: list[list[int]]
    seeds: list[int]


def _call_rows(call: _Call) -> int:
    return sum(r.n for r in call.reqs)


def _is_torch_dtype(value: object) -> bool:
    # A torch.dtype exists only once torch is imported: no import needed to tell.
    return type(value).__module__ == "torch" and type(value).__name__ == "dtype"
