"""A process reward model (PRM) read from a causal language model, Math-Shepherd style.

The PRM reads the question and the solution with a step tag after every step,
and at each tag compares two next-token logits: the "good" token and the "bad"
token. A step's score is ``softmax([logit_good, logit_bad])[0]``, the
probability that the solution is still on a correct path after that step.

The input format is fixed here, once, and shared with the code that trains the
bundled PRM (build training strings with :func:`format_prm_input` or token ids
and label positions with :func:`encode_prm_input`)::

    bos + question + "\\n" + step_1 + " ки\\n" + step_2 + " ки\\n" + ... + step_k + " ки\\n"

For example, with the suite's tokenizer (BOS ``<s>``)::

    <s>34*7-95\\n34*7=238 ки\\n238-95=143 ки\\n#### 143 ки\\n

Steps are the non-blank lines of a solution, as written (:func:`split_steps`);
the final ``#### answer`` line is a step like any other, so the ``last`` fold
reads the PRM at the answer. Occurrences of the step tag inside the question
or a step are deleted, so the tags in the input are exactly the step ends.
The score of a step is read at the *last* token of its tag (a tag that
tokenizes to several tokens is read at its final piece, as Math-Shepherd does).

Math-Shepherd's own checkpoint (and the other published PRMs) read their
input differently: load them with
:func:`~langgraph_ttc.verifiers.prm_formats.load_prm`, which renders each
format as its authors do (``load_prm`` returns this class for the bundled PRM).
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langgraph_ttc.formats import BAD_TOKEN, GOOD_TOKEN, STEP_DELIMITER, STEP_TAG
from langgraph_ttc.types import Fold, ScoreResult
from langgraph_ttc.verifiers.base import EMPTY_SOLUTION_SCORE, BaseVerifier, split_steps
from langgraph_ttc.verifiers.local_model import (
    load_causal_lm,
    model_source,
    takes_logits_to_keep,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "EMPTY_SOLUTION_SCORE",
    "PRM_TEMPLATE",
    "PRMEncoding",
    "TransformersPRM",
    "encode_prm_input",
    "format_prm_input",
    "resolve_single_token",
]

PRM_TEMPLATE = "{question}\n{steps}"
"""How the question and the tagged steps are joined (the BOS text goes before it)."""

# Marks where the steps go while the template is rendered, to locate the tags.
_SENTINEL = "\ufffe\x00steps\x00\ufffe"


@dataclass(frozen=True)
class PRMEncoding:
    """A PRM input as token ids, with the index of each step's score token.

    Attributes:
        text: The input string (:func:`format_prm_input`).
        input_ids: Its token ids (no special tokens added beyond the BOS text).
        tag_positions: For each step, the index in ``input_ids`` of the last
            token of its tag: the logits there give the step's score, and a
            training label for the step belongs there.
    """

    text: str
    input_ids: list[int]
    tag_positions: list[int]


def _check_template(template: object) -> str:
    if not isinstance(template, str):
        raise TypeError(f"template must be a str, got {type(template).__name__}")
    if template.count("{steps}") != 1 or "{question}" not in template:
        raise ValueError(
            f"template must contain {{question}} and exactly one {{steps}}, got {template!r}"
        )
    try:
        template.format(question="", steps="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"template has a field other than {{question}} and {{steps}}: {template!r} ({exc})"
        ) from None
    return template


def _render(
    question: str, steps: Sequence[str], *, step_tag: str, bos: str, template: str
) -> tuple[str, list[int]]:
    """The input string and, per step, the character offset just past its tag."""
    if not isinstance(question, str):
        raise TypeError(f"question must be a str, got {type(question).__name__}")
    if isinstance(steps, str) or not isinstance(steps, Sequence):
        raise TypeError(f"steps must be a sequence of str, got {type(steps).__name__}")
    if not isinstance(step_tag, str) or not step_tag:
        raise ValueError(f"step_tag must be a non-empty string, got {step_tag!r}")
    if not isinstance(bos, str):
        raise TypeError(f"bos must be a str, got {type(bos).__name__}")
    _check_template(template)
    head = bos + template.format(question=question.replace(step_tag, ""), steps=_SENTINEL)
    start = head.index(_SENTINEL)
    parts: list[str] = []
    tag_ends: list[int] = []
    offset = start
    for i, step in enumerate(steps):
        if not isinstance(step, str):
            raise TypeError(f"steps[{i}] must be a str, got {type(step).__name__}")
        part = f"{step.replace(step_tag, '')} {step_tag}\n"
        parts.append(part)
        tag_ends.append(offset + len(part) - 1)  # the tag ends just before the "\n"
        offset += len(part)
    text = head[:start] + "".join(parts) + head[start + len(_SENTINEL) :]
    return text, tag_ends


def format_prm_input(
    question: str,
    steps: Sequence[str],
    *,
    step_tag: str = STEP_TAG,
    bos: str = "",
    template: str = PRM_TEMPLATE,
) -> str:
    """The PRM's input string: ``bos + question + "\\n" + "".join(step + " ки\\n")``.

    This is the one format the bundled PRM is trained and read with.

    Args:
        question: The question.
        steps: The solution's steps, usually ``split_steps(solution)``; each is
            rendered as given, minus any occurrence of ``step_tag``.
        step_tag: The tag written after each step.
        bos: Text put first, usually the tokenizer's BOS token (``"<s>"`` for
            the suite); tokenize the result without adding special tokens.
        template: How question and steps are joined (fields ``{question}`` and ``{steps}``).

    Raises:
        TypeError: On non-string input.
        ValueError: On an empty tag or a template without both fields.
    """
    return _render(question, steps, step_tag=step_tag, bos=bos, template=template)[0]


def _offsets(
    tokenizer: PreTrainedTokenizerBase, text: str, tag_ends: Sequence[int]
) -> tuple[list[int], list[int]]:
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        token_ends = [end for _, end in enc["offset_mapping"]]
    except NotImplementedError:
        # Slow tokenizers have no offsets: a tag's token is the last of its prefix.
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        positions = [
            len(tokenizer(text[:end], add_special_tokens=False)["input_ids"]) - 1
            for end in tag_ends
        ]
        return ids, positions
    positions = []
    for end in tag_ends:
        # The token covering the tag's last character (the first whose span reaches it).
        pos = bisect.bisect_left(token_ends, end)
        if pos >= len(ids):
            raise ValueError(f"could not locate the step tag ending at character {end}")
        positions.append(pos)
    return ids, positions


def encode_prm_input(
    tokenizer: PreTrainedTokenizerBase,
    question: str,
    steps: Sequence[str],
    *,
    step_tag: str = STEP_TAG,
    bos: str | None = None,
    template: str = PRM_TEMPLATE,
) -> PRMEncoding:
    """Tokenize a PRM input and find the score position of every step.

    The training code of a PRM uses this to put each step's label at the
    position the verifier reads.

    Args:
        tokenizer: A Hugging Face tokenizer (fast ones use offsets; slow ones
            re-tokenize each prefix).
        question: The question.
        steps: The solution's steps.
        step_tag: The tag written after each step.
        bos: Text put first; ``None`` uses ``tokenizer.bos_token`` (or nothing).
        template: See :func:`format_prm_input`.

    Raises:
        TypeError: On non-string input.
        ValueError: On a bad template or tag.
    """
    if bos is None:
        bos = tokenizer.bos_token or ""
    text, tag_ends = _render(question, steps, step_tag=step_tag, bos=bos, template=template)
    ids, positions = _offsets(tokenizer, text, tag_ends)
    return PRMEncoding(text=text, input_ids=ids, tag_positions=positions)


def resolve_single_token(tokenizer: PreTrainedTokenizerBase, token: str, field: str) -> int:
    """The id of ``token``, which must be a single token of ``tokenizer``.

    Tries the encoding of the text first (``"+"`` may be ``"▁+"`` in a
    SentencePiece vocabulary), then the vocabulary entry of that exact string.

    Raises:
        ValueError: If the token is empty or is not a single token (naming ``field``).
    """
    if not isinstance(token, str) or not token:
        raise ValueError(f"{field} must be a non-empty string, got {token!r}")
    ids = list(tokenizer(token, add_special_tokens=False)["input_ids"])
    if len(ids) == 1:
        return int(ids[0])
    vocab_id = tokenizer.convert_tokens_to_ids(token)
    if isinstance(vocab_id, int) and vocab_id != tokenizer.unk_token_id:
        return vocab_id
    raise ValueError(
        f"{field} {token!r} is not a single token for this tokenizer (it encodes to {ids}); "
        "the PRM compares two single-token logits"
    )


class TransformersPRM(BaseVerifier):
    """A Math-Shepherd-style PRM on a Hugging Face causal LM.

    Loads lazily on first use, on CUDA when available. Scores are
    deterministic: the same inputs give the same scores, batched or one by
    one (padding is on the right, so positions never shift).

    Each solution is cut into steps with :func:`split_steps` at
    ``step_delimiter``, and gets one score per step. A solution with no step
    scores ``[EMPTY_SOLUTION_SCORE]`` without running the model. Folding step
    scores into one is left to the caller (``types.fold_scores``); ``fold``
    holds the paper's best choice, ``"last"``, for convenience.

    Cost: ``tokens`` counts the tokens the model read (padding excluded), and
    ``flops = 2 * params * tokens``.

    Args:
        model: A model folder or hub id, or a loaded ``PreTrainedModel``.
        tokenizer: Its tokenizer; by default loaded from the model's folder.
        step_tag: The tag after each step (the score is read at its last token).
        good_token: The token whose probability is the step score.
        bad_token: The competing token.
        step_delimiter: Where a solution is cut into steps.
        device: Torch device; by default CUDA if present, else CPU (a loaded
            model given without a device stays where it is).
        dtype: Torch dtype (or its name) to load or cast the model in.
        batch_size: Sequences per forward pass.
        template: How question and steps are joined; see :func:`format_prm_input`.
        bos: Text put first; ``None`` uses the tokenizer's BOS token.
        name: The verifier's name; by default ``prm:<model folder name>``.

    Raises:
        TypeError, ValueError: On bad options, naming the option. Token
            problems (good/bad not single tokens) surface when the model loads
            (first use, or :meth:`load`).
    """

    fold: Fold = "last"

    def __init__(
        self,
        model: str | os.PathLike[str] | PreTrainedModel,
        *,
        tokenizer: PreTrainedTokenizerBase | None = None,
        step_tag: str = STEP_TAG,
        good_token: str = GOOD_TOKEN,
        bad_token: str = BAD_TOKEN,
        step_delimiter: str = STEP_DELIMITER,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        batch_size: int = 64,
        template: str = PRM_TEMPLATE,
        bos: str | None = None,
        name: str | None = None,
    ) -> None:
        for field, value in (
            ("step_tag", step_tag),
            ("good_token", good_token),
            ("bad_token", bad_token),
            ("step_delimiter", step_delimiter),
        ):
            if not isinstance(value, str):
                raise TypeError(f"{field} must be a str, got {type(value).__name__}")
            if not value:
                raise ValueError(f"{field} must be a non-empty string")
        if good_token == bad_token:
            raise ValueError(f"good_token and bad_token must differ, both are {good_token!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if bos is not None and not isinstance(bos, str):
            raise TypeError(f"bos must be a str or None, got {type(bos).__name__}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {type(name).__name__}")
        self.template = _check_template(template)
        self._source, self._model, default_name = model_source(model)
        self.name = name or f"prm:{default_name}"
        self.step_tag = step_tag
        self.good_token = good_token
        self.bad_token = bad_token
        self.step_delimiter = step_delimiter
        self.batch_size = batch_size
        self._tokenizer = tokenizer
        self._device = device
        self._dtype = dtype
        self._bos = bos
        self._lock = threading.Lock()
        self._ready = False
        self._good_id = self._bad_id = -1
        self._params = 0
        self._keep_logits = False

    # ----------------------------------------------------------------- loading

    def load(self) -> TransformersPRM:
        """Load the model and tokenizer now (otherwise done on first use); returns ``self``.

        Raises:
            ValueError: If the good or bad token is not a single token.
        """
        with self._lock:
            if not self._ready:
                self._load()
        return self

    def _load(self) -> None:
        self._model, self._tokenizer = load_causal_lm(
            self._source, self._model, self._tokenizer, device=self._device, dtype=self._dtype
        )
        tok = self._tokenizer
        self._good_id = resolve_single_token(tok, self.good_token, "good_token")
        self._bad_id = resolve_single_token(tok, self.bad_token, "bad_token")
        if self._bos is None:
            self._bos = tok.bos_token or ""
        self._params = int(self._model.num_parameters())
        # Project only the tag positions onto the vocabulary where the model allows it.
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

    def encode(self, question: str, solution: str) -> PRMEncoding:
        """The model input for one solution, as scored (loads the model)."""
        self.load()
        return encode_prm_input(
            self.tokenizer,
            question,
            split_steps(solution, self.step_delimiter),
            step_tag=self.step_tag,
            bos=self._bos,
            template=self.template,
        )

    def _score(self, question: str, solutions: list[str]) -> ScoreResult:
        self.load()
        steps: list[list[float]] = [[EMPTY_SOLUTION_SCORE] for _ in solutions]
        encodings: dict[int, PRMEncoding] = {}
        for i, sol in enumerate(solutions):
            if split_steps(sol, self.step_delimiter):
                encodings[i] = self.encode(question, sol)
        # Longest first, so each batch pads little; results go back by index.
        order = sorted(encodings, key=lambda i: -len(encodings[i].input_ids))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for i, scores in zip(chunk, self._forward([encodings[i] for i in chunk]), strict=True):
                steps[i] = scores
        tokens = sum(len(e.input_ids) for e in encodings.values())
        return ScoreResult(steps=steps, tokens=tokens, flops=2.0 * self._params * tokens)

    def _forward(self, batch: list[PRMEncoding]) -> list[list[float]]:
        import torch

        model = self._model
        device = next(model.parameters()).device
        pad_id = self._tokenizer.pad_token_id if self._tokenizer is not None else None
        pad_id = 0 if pad_id is None else int(pad_id)
        length = max(len(e.input_ids) for e in batch)
        ids = torch.full((len(batch), length), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), length), dtype=torch.long)
        for row, enc in enumerate(batch):
            ids[row, : len(enc.input_ids)] = torch.tensor(enc.input_ids, dtype=torch.long)
            mask[row, : len(enc.input_ids)] = 1
        wanted = sorted({p for enc in batch for p in enc.tag_positions})
        column = {p: c for c, p in enumerate(wanted)} if self._keep_logits else None
        kwargs: dict[str, Any] = {}
        if self._keep_logits:
            kwargs["logits_to_keep"] = torch.tensor(wanted, dtype=torch.long, device=device)
        with torch.inference_mode():
            logits = model(
                input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs
            ).logits
            pair_ids = torch.tensor([self._good_id, self._bad_id], device=logits.device)
            pair = logits.index_select(-1, pair_ids).float()
            p_good = torch.softmax(pair, dim=-1)[..., 0].cpu()
        out: list[list[float]] = []
        for row, enc in enumerate(batch):
            cols = (
                [column[p] for p in enc.tag_positions] if column is not None else enc.tag_positions
            )
            out.append([float(v) for v in p_good[row, cols].tolist()])
        return out
