"""A likelihood verifier: a causal LM's probability of each step of a solution.

No training: a step's score is read from the token probabilities a causal
language model gives that step, given the question (as the policy saw it)
and the steps before it. A bigger model than the policy checks arithmetic
the policy gets wrong: an off-by-one result is an unlikely token.

- :class:`TransformersLikelihoodVerifier` runs a local Hugging Face model,
  solutions in padded forward passes, shared by concurrent calls.
- :class:`~langgraph_ttc.verifiers.likelihood_remote.OpenAILikelihoodVerifier`
  asks an OpenAI-compatible ``/v1/completions`` endpoint for the prompt's
  log-probabilities (``echo=True, logprobs=1``).

Both render the prompt, cut the steps and fold token probabilities the same
way (``likelihood_common``): the input is ``render_prompt(question) +
solution``, tokenized as one text; each step (a non-blank line, as
:func:`~langgraph_ttc.verifiers.base.split_steps` cuts it) gets the tokens
whose character span overlaps it, and ``token_fold`` (``min`` by default)
folds their probabilities into a score in [0, 1]. The fold across steps is
the plan's ``fold``, applied by the graph.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langgraph_ttc.formats import STEP_DELIMITER
from langgraph_ttc.models.coalesce import (
    DEFAULT_MAX_WAIT_S,
    Coalescer,
    CoalescerStats,
    padded_length,
)
from langgraph_ttc.models.threads import apply_threads, choose_threads, use_threads
from langgraph_ttc.types import Fold, ScoreResult
from langgraph_ttc.verifiers.base import EMPTY_SOLUTION_SCORE, BaseVerifier
from langgraph_ttc.verifiers.likelihood_common import (
    DEFAULT_TEMPLATE,
    TOKEN_FOLDS,
    TokenFold,
    check_step_fold,
    check_template,
    check_token_fold,
    fold_steps,
    render_prompt,
    step_spans,
    steps_from_tokens,
)
from langgraph_ttc.verifiers.local_model import (
    load_causal_lm,
    model_source,
    takes_logits_to_keep,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "DEFAULT_TEMPLATE",
    "TOKEN_FOLDS",
    "LikelihoodEncoding",
    "TokenFold",
    "TransformersLikelihoodVerifier",
]

_POOL = 256
"""Solutions that concurrent calls pool into one batch when ``batch_size`` is None:
sorted by length across calls, passes waste less on padding (64 best-of-8
questions, CPU: 7.7 s with pools of 64, 6.7 s with pools of 256)."""

_PASS_TOKENS = 1024
"""Padded tokens per forward pass when ``batch_size`` is None. The verifier's
forward pass is compute-bound: on the bundled policy-large (CPU, 1 thread) 64
solutions in one pass took 2.3x as long as in passes of about 1024 padded
tokens, sorted by length (padding, and activations that outgrow the cache)."""


def _key(enc: LikelihoodEncoding) -> tuple[Any, ...]:
    """What a forward pass reads of an encoding: equal keys, equal log-probabilities."""
    return (tuple(enc.input_ids), tuple(enc.token_spans), tuple(enc.steps))


def _passes(lengths: list[int], batch_size: int | None) -> list[list[int]]:
    """Split positions of ``lengths`` (sorted longest first) into forward passes.

    At most ``batch_size`` sequences a pass when given; otherwise a pass holds
    sequences while their padded size stays within :data:`_PASS_TOKENS` (a
    longer sequence goes alone).
    """
    out: list[list[int]] = []
    for k in range(len(lengths)):
        if out and (
            len(out[-1]) < batch_size
            if batch_size is not None
            else (len(out[-1]) + 1) * lengths[out[-1][0]] <= _PASS_TOKENS
        ):
            out[-1].append(k)
        else:
            out.append([k])
    return out


@dataclass(frozen=True)
class LikelihoodEncoding:
    """One solution's model input, with where its steps are.

    Attributes:
        text: The prompt followed by the solution.
        input_ids: The token ids of ``text`` (cut on the left to the context).
        token_spans: The ``(start, end)`` characters of ``text`` each token covers.
        steps: The ``(start, end)`` characters of ``text`` each step covers.
    """

    text: str
    input_ids: list[int]
    token_spans: list[tuple[int, int]]
    steps: list[tuple[int, int]]


def _encode_text(
    tokenizer: PreTrainedTokenizerBase, text: str, cuts: list[int]
) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids of ``text`` and the characters each token covers.

    Fast tokenizers give offsets; slow ones encode the pieces between ``cuts``
    (the step boundaries) one at a time, each token spanning its whole piece.
    """
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return list(enc["input_ids"]), [(int(s), int(e)) for s, e in enc["offset_mapping"]]
    except NotImplementedError:
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        bounds = sorted({0, *cuts, len(text)})
        for start, end in itertools.pairwise(bounds):
            piece = list(tokenizer(text[start:end], add_special_tokens=False)["input_ids"])
            ids += piece
            spans += [(start, end)] * len(piece)
        return ids, spans


class TransformersLikelihoodVerifier(BaseVerifier):
    """Scores each step by a local causal LM's probabilities of its tokens.

    The model reads ``prompt + solution``, where the prompt is the question
    as the policy sees it: the tokenizer's chat template with the question as
    the user turn and the generation prompt (the solution is the assistant
    turn, appended verbatim), or ``template`` when given or when there is no
    chat template. A step's score folds the probabilities of the tokens that
    overlap it (``token_fold``):

    - ``min`` (default): the least likely token's probability;
    - ``mean``: the geometric mean of the token probabilities, ``exp(mean logprob)``;
    - ``prod``: the step's probability, ``exp(sum logprob)``;
    - ``last``: the last token's probability.

    Solutions go through padded forward passes, sorted by length (of
    ``batch_size`` sequences, or about 1024 padded tokens); padding is on the
    right, so scores do not depend on the batch. Concurrent ``score`` and
    ``ascore`` calls (other threads, concurrent graph runs) share forward
    passes through a ``Coalescer``: up to ``batch_size`` (256 when ``None``)
    solutions of the waiting calls, after at most ``max_wait_s`` once calls
    have been seen to overlap. Scores are deterministic (no sampling, no
    seed). An input longer than the context (``max_length``) loses tokens on
    the left, from the prompt; a solution that does not fit whole is a
    ``ValueError``. A
    solution with no step scores ``[EMPTY_SOLUTION_SCORE]`` without the model.

    Cost: ``tokens`` counts the tokens read (padding excluded; a solution
    given twice in one call is read once, and scored the same), ``flops =
    2 * params * tokens``.

    Args:
        model: A model folder or hub id, or a loaded ``PreTrainedModel``.
        tokenizer: Its tokenizer; by default loaded from the model's folder.
        token_fold: ``min``, ``mean`` (geometric), ``prod`` or ``last``.
        step_fold: ``None`` (default) returns a score per step, folded by the
            plan's ``fold``; ``min``, ``mean``, ``prod`` or ``last`` returns one
            score per solution, folded here over its steps.
        step_delimiter: Where a solution is cut into steps.
        template: The prompt as a format string with ``{question}`` and
            optionally ``{bos}`` (the tokenizer's BOS text); ``None`` uses the
            chat template, or :data:`DEFAULT_TEMPLATE` without one.
        device: Torch device; by default CUDA if present, else CPU (a loaded
            model given without a device stays where it is).
        dtype: Torch dtype (or its name) to load or cast the model in.
        batch_size: Sequences per forward pass; ``None`` packs passes of about
            1024 padded tokens, sorted by length (and pools up to 256 solutions
            of concurrent calls).
        max_wait_s: How long a forward pass waits for concurrent calls (seconds).
        threads: Torch CPU threads; ``None`` follows
            :func:`~langgraph_ttc.models.threads.choose_threads`.
        max_length: The context in tokens; ``None`` uses the model config's
            ``max_position_embeddings``.
        name: The verifier's name; by default ``likelihood:<model folder name>``.

    Raises:
        TypeError, ValueError: On bad options, naming the option.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | PreTrainedModel,
        *,
        tokenizer: PreTrainedTokenizerBase | None = None,
        token_fold: TokenFold = "min",
        step_fold: Fold | None = None,
        step_delimiter: str = STEP_DELIMITER,
        template: str | None = None,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        batch_size: int | None = None,
        max_length: int | None = None,
        name: str | None = None,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        threads: int | None = None,
    ) -> None:
        self.token_fold: TokenFold = check_token_fold(token_fold)
        self.step_fold: Fold | None = check_step_fold(step_fold)
        if not isinstance(step_delimiter, str):
            raise TypeError(f"step_delimiter must be a str, got {type(step_delimiter).__name__}")
        if not step_delimiter:
            raise ValueError("step_delimiter must be a non-empty string")
        for field, value in (("batch_size", batch_size), ("max_length", max_length)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 2
            ):
                raise ValueError(f"{field} must be an int >= 2 or None, got {value!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {type(name).__name__}")
        self.template = check_template(template)
        self._source, self._model, default_name = model_source(model)
        self.name = name or f"likelihood:{default_name}"
        self.step_delimiter = step_delimiter
        self.batch_size = batch_size
        self.max_length = max_length
        self._tokenizer = tokenizer
        self._device = device
        self._dtype = dtype
        if threads is not None:
            choose_threads(None, threads)  # checks it
        self.threads = threads
        self._lock = threading.Lock()
        self._tok_lock = threading.Lock()
        self._coalescer: Coalescer[list[LikelihoodEncoding], list[list[float | None]]] = Coalescer(
            self._forward_calls,
            max_size=batch_size or _POOL,
            max_wait_s=max_wait_s,
            size=len,
            name=self.name,
        )
        self._ready = False
        self._thread_count: int | None = None
        self._params = 0
        self._keep_logits = False

    # ----------------------------------------------------------------- loading

    def load(self) -> TransformersLikelihoodVerifier:
        """Load the model and tokenizer now (otherwise done on first use); returns ``self``."""
        with self._lock:
            if not self._ready:
                self._load()
        return self

    def _load(self) -> None:
        self._model, self._tokenizer = load_causal_lm(
            self._source, self._model, self._tokenizer, device=self._device, dtype=self._dtype
        )
        if self.max_length is None:
            context = getattr(self._model.config, "max_position_embeddings", None)
            self.max_length = int(context) if isinstance(context, int) and context > 1 else None
        self._params = int(self._model.num_parameters())
        self._thread_count = apply_threads(
            next(self._model.parameters()).device, self._params, self.threads
        )
        self._keep_logits = takes_logits_to_keep(self._model)
        self._ready = True

    @property
    def params(self) -> int:
        """The model's parameter count (loads the model)."""
        self.load()
        return self._params

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The tokenizer (loads the model)."""
        self.load()
        assert self._tokenizer is not None
        return self._tokenizer

    # ----------------------------------------------------------------- scoring

    def prompt(self, question: str) -> str:
        """The text the solution follows (loads the tokenizer); see :func:`render_prompt`."""
        if not isinstance(question, str):
            raise TypeError(f"question must be a str, got {type(question).__name__}")
        return render_prompt(self.tokenizer, question, self.template)

    def encode(self, question: str, solution: str) -> LikelihoodEncoding:
        """The model input for one solution, as scored (loads the model).

        Raises:
            TypeError: On a non-string question or solution.
            ValueError: If the solution has no step, or does not fit the context.
        """
        if not isinstance(solution, str):
            raise TypeError(f"solution must be a str, got {type(solution).__name__}")
        prompt = self.prompt(question)
        text = prompt + solution
        steps = [
            (len(prompt) + s, len(prompt) + e) for s, e in step_spans(solution, self.step_delimiter)
        ]
        if not steps:
            raise ValueError("solution has no step to score")
        cuts = [c for span in steps for c in span] + [len(prompt)]
        ids, spans = _encode_text(self.tokenizer, text, cuts)
        if self.max_length is not None and len(ids) > self.max_length:
            cut = len(ids) - self.max_length
            # The first kept token has no prediction: it must come before the solution.
            if spans[cut][1] > len(prompt):
                raise ValueError(
                    f"the solution alone needs about {len(ids) - cut} of the "
                    f"{self.max_length} tokens of the context; it does not fit"
                )
            ids, spans = ids[cut:], spans[cut:]
        return LikelihoodEncoding(text=text, input_ids=ids, token_spans=spans, steps=steps)

    def _score(self, question: str, solutions: list[str]) -> ScoreResult:
        encodings = self._encodings(question, solutions)
        logprobs = self._coalescer.call(list(encodings.values())) if encodings else []
        return self._result(solutions, encodings, logprobs)

    async def _ascore(self, question: str, solutions: list[str]) -> ScoreResult:
        # Loading and tokenizing are CPU work: off the event loop.
        encodings = await asyncio.to_thread(self._encodings, question, solutions)
        logprobs = await self._coalescer.acall(list(encodings.values())) if encodings else []
        return self._result(solutions, encodings, logprobs)

    @property
    def coalescing(self) -> CoalescerStats:
        """How many forward batches were run and how many calls shared one."""
        return self._coalescer.stats

    def _encodings(self, question: str, solutions: list[str]) -> dict[int, LikelihoodEncoding]:
        """The model input of each solution that has a step, by solution index."""
        self.load()
        encodings: dict[int, LikelihoodEncoding] = {}
        # A fast tokenizer used from two threads at once can fail ("Already borrowed").
        with self._tok_lock:
            for i, sol in enumerate(solutions):
                if step_spans(sol, self.step_delimiter):
                    try:
                        encodings[i] = self.encode(question, sol)
                    except ValueError as exc:
                        raise ValueError(f"{self.name}: solutions[{i}]: {exc}") from None
        return encodings

    def _result(
        self,
        solutions: list[str],
        encodings: dict[int, LikelihoodEncoding],
        logprobs: list[list[float | None]],
    ) -> ScoreResult:
        out: list[list[float]] = [[EMPTY_SOLUTION_SCORE] for _ in solutions]
        for (i, enc), lps in zip(encodings.items(), logprobs, strict=True):
            try:
                out[i] = steps_from_tokens(enc.token_spans, lps, enc.steps, self.token_fold)
            except ValueError as exc:
                raise ValueError(f"{self.name}: solutions[{i}]: {exc}") from None
        # A solution given twice is read once (see _forward_calls).
        tokens = sum(len(k[0]) for k in {_key(e) for e in encodings.values()})
        return ScoreResult(
            steps=fold_steps(out, self.step_fold), tokens=tokens, flops=2.0 * self._params * tokens
        )

    def _forward_calls(
        self, calls: list[list[LikelihoodEncoding]]
    ) -> list[list[list[float | None]] | BaseException]:
        """The coalescer's batch: all calls' inputs, longest first, in passes of ``batch_size``."""
        use_threads(self._thread_count)  # the batch thread may predate the setting
        flat = [enc for call in calls for enc in call]
        # Each distinct input once: beam search's children often repeat a step,
        # and equal inputs must get equal scores whatever pass they fall in.
        distinct: dict[tuple[Any, ...], int] = {}
        inputs: list[LikelihoodEncoding] = []
        for enc in flat:
            if distinct.setdefault(_key(enc), len(inputs)) == len(inputs):
                inputs.append(enc)
        read: list[list[float | None]] = [[] for _ in inputs]
        order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i].input_ids))
        # A pass holds one padded length, each input's own (see padded_length):
        # its scores are then the same whatever else shares the pass.
        buckets: dict[int, list[int]] = {}
        for i in order:
            width = padded_length(len(inputs[i].input_ids))
            if self.max_length is not None:  # padding never runs past the context
                width = min(width, max(self.max_length, len(inputs[i].input_ids)))
            buckets.setdefault(width, []).append(i)
        for width, members in buckets.items():
            for chunk in _passes([width] * len(members), self.batch_size):
                idx = [members[k] for k in chunk]
                for i, lps in zip(idx, self._forward([inputs[i] for i in idx], width), strict=True):
                    read[i] = lps
        got = [read[distinct[_key(enc)]] for enc in flat]
        out: list[list[list[float | None]] | BaseException] = []
        start = 0
        for call in calls:
            out.append(got[start : start + len(call)])
            start += len(call)
        return out

    def _forward(
        self, batch: list[LikelihoodEncoding], width: int | None = None
    ) -> list[list[float | None]]:
        """Each token's log-probability given the tokens before it (``None`` for the first).

        ``width`` is the padded length (by default the longest input's).
        """
        import torch

        model = self._model
        device = next(model.parameters()).device
        pad_id = self._tokenizer.pad_token_id if self._tokenizer is not None else None
        pad_id = 0 if pad_id is None else int(pad_id)
        length = max([len(e.input_ids) for e in batch] + [width or 0])
        ids = torch.full((len(batch), length), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), length), dtype=torch.long)
        for row, enc in enumerate(batch):
            ids[row, : len(enc.input_ids)] = torch.tensor(enc.input_ids, dtype=torch.long)
            mask[row, : len(enc.input_ids)] = 1
        # Positions whose logits predict a token of a step (the prompt's are not needed).
        first = [
            max(1, next((t for t, (_, e) in enumerate(enc.token_spans) if e > enc.steps[0][0]), 1))
            for enc in batch
        ]
        lo = min(first) - 1
        kwargs: dict[str, Any] = {}
        if self._keep_logits:
            kwargs["logits_to_keep"] = torch.arange(lo, length - 1, device=device)
        with torch.inference_mode():
            logits = model(
                input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs
            ).logits
            if not self._keep_logits:
                logits = logits[:, lo : length - 1]
            out: list[list[float | None]] = []
            for row, enc in enumerate(batch):
                n = len(enc.input_ids)
                start = first[row]
                targets = ids[row, start:n].to(logits.device)
                rows = logits[row, start - 1 - lo : n - 1 - lo].float().log_softmax(-1)
                picked = rows.gather(-1, targets[:, None])[:, 0].cpu().tolist()
                out.append([None] * start + [float(v) for v in picked])
        return out
