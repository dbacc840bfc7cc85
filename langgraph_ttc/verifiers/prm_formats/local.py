"""A published PRM run in-process: the model, its head, one batched forward pass.

Three ways a PRM turns hidden states into a step score, one per ``head``:

- ``"lm-pair"`` (Math-Shepherd, RLHFlow): the causal LM's logits of the good
  and bad tokens at the score position, ``softmax([good, bad])[0]``.
- ``"classifier"`` (Qwen2.5-Math-PRM): the checkpoint's ``score`` head,
  ``Linear(h, h) -> ReLU -> Linear(h, 2)`` as in Qwen's
  ``modeling_qwen2_rm.py`` (``Qwen2ForProcessRewardModel``), built here from
  the checkpoint's ``score.0.*`` and ``score.2.*`` weights on the base model
  that transformers builds without remote code; ``softmax(logits)[1]``.
- ``"value"`` (Skywork-o1-Open-PRM): the checkpoint's ``v_head.summary``
  (``Linear(h, 1)``, in its own dtype as Skywork's ``ValueHead`` upcasts) on
  the last hidden state, ``sigmoid(value)``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langgraph_ttc.types import Fold, ScoreResult
from langgraph_ttc.verifiers.base import EMPTY_SOLUTION_SCORE, BaseVerifier, split_steps
from langgraph_ttc.verifiers.local_model import takes_logits_to_keep
from langgraph_ttc.verifiers.prm import PRMEncoding
from langgraph_ttc.verifiers.prm_formats.encoders import StepEncoder

if TYPE_CHECKING:
    import torch

__all__ = ["Head", "LocalPRM", "read_weights"]

Head = Literal["lm-pair", "classifier", "value"]


def _weight_files(folder: Path) -> list[Path]:
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / index).is_file():
            shards = json.loads((folder / index).read_text())["weight_map"].values()
            return [folder / name for name in dict.fromkeys(shards)]
    for single in ("model.safetensors", "pytorch_model.bin"):
        if (folder / single).is_file():
            return [folder / single]
    return []


def read_weights(folder: Path, names: list[str]) -> dict[str, torch.Tensor]:
    """The named tensors of a checkpoint folder (safetensors or ``.bin``, sharded or not).

    Raises:
        ValueError: If a name is in none of the folder's weight files.
    """
    import torch

    found: dict[str, torch.Tensor] = {}
    for path in _weight_files(folder):
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                for name in names:
                    if name in f.keys():  # noqa: SIM118 (safe_open has no __contains__)
                        found[name] = f.get_tensor(name)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            found.update({n: state[n] for n in names if n in state})
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"{folder}: the checkpoint has no {', '.join(missing)} weights")
    return found


class LocalPRM(BaseVerifier):
    """A PRM of a published format on a Hugging Face checkpoint (built by ``load_prm``).

    Scores every step of every solution in one batched forward pass (right
    padding, so no position shifts), read as the format's authors read it.
    Loads on first use, on CUDA when available. A solution with no step
    scores ``[EMPTY_SOLUTION_SCORE]`` without the model.

    Cost: ``tokens`` counts the tokens the model read (padding excluded),
    ``flops = 2 * params * tokens``.

    Args:
        folder: The checkpoint folder.
        format: The format's name (for the verifier's name and errors).
        head: How scores are read (see the module docstring).
        make_encoder: Builds the format's encoder from the loaded tokenizer.
        step_delimiter: Where a solution is cut into steps.
        device: Torch device; by default CUDA if present, else CPU.
        dtype: Torch dtype (or its name); by default the checkpoint's.
        batch_size: Sequences per forward pass; ``None`` scores a call in one pass.
        name: The verifier's name; by default ``prm:<format>:<folder name>``.
    """

    fold: Fold = "last"

    def __init__(
        self,
        folder: str | Path,
        *,
        format: str,
        head: Head,
        make_encoder: Callable[[Any], StepEncoder],
        step_delimiter: str = "\n",
        device: Any = None,
        dtype: Any = None,
        batch_size: int | None = None,
        name: str | None = None,
    ) -> None:
        if head not in ("lm-pair", "classifier", "value"):
            raise ValueError(f"head must be 'lm-pair', 'classifier' or 'value', got {head!r}")
        if not isinstance(step_delimiter, str) or not step_delimiter:
            raise ValueError(f"step_delimiter must be a non-empty str, got {step_delimiter!r}")
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
        self.folder = Path(folder)
        self.format = format
        self.head: Head = head
        self.step_delimiter = step_delimiter
        self.batch_size = batch_size
        self.name = name or f"prm:{format}:{self.folder.name}"
        self._make_encoder = make_encoder
        self._device = device
        self._dtype = dtype
        self._lock = threading.Lock()
        self._ready = False
        self._model: Any = None
        self._head_module: Any = None
        self._tokenizer: Any = None
        self._encoder: Any = None
        self._params = 0

    # ----------------------------------------------------------------- loading

    def load(self) -> LocalPRM:
        """Load tokenizer, model and head now (otherwise on first use); returns ``self``.

        Raises:
            ValueError: If the tokenizer lacks the format's tokens or the
                checkpoint lacks the head's weights.
        """
        with self._lock:
            if not self._ready:
                self._load()
        return self

    def _load(self) -> None:
        import torch
        from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
        encoder = self._make_encoder(tokenizer)  # token checks before the weights load
        dtype = getattr(torch, self._dtype) if isinstance(self._dtype, str) else self._dtype
        kwargs: dict[str, Any] = {"dtype": dtype} if dtype is not None else {}
        device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
        model: Any
        if self.head == "lm-pair":
            model = AutoModelForCausalLM.from_pretrained(str(self.folder), **kwargs)
            head = None
        else:
            # The base model only: transformers has no class for these heads without remote
            # code. Its report of the head's weights as unexpected is quieted: they are read
            # on purpose just below.
            from transformers.utils import logging as hf_logging

            level = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()
            try:
                model = AutoModel.from_pretrained(str(self.folder), **kwargs)
            finally:
                hf_logging.set_verbosity(level)
            head = self._build_head(model, torch)
        model.to(device).eval()
        if head is not None:
            head.to(device).eval()
        self._params = int(model.num_parameters()) + (
            sum(p.numel() for p in head.parameters()) if head is not None else 0
        )
        self._model, self._head_module = model, head
        self._tokenizer, self._encoder = tokenizer, encoder
        self._keep_logits = self.head == "lm-pair" and takes_logits_to_keep(model)
        self._ready = True

    def _build_head(self, model: Any, torch: Any) -> Any:
        nn = torch.nn
        hidden = int(model.config.hidden_size)
        if self.head == "classifier":
            names = ["score.0.weight", "score.0.bias", "score.2.weight", "score.2.bias"]
            w = read_weights(self.folder, names)
            labels = int(w["score.2.weight"].shape[0])
            if labels != 2:
                raise ValueError(f"{self.folder}: the score head has {labels} labels, not 2")
            head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))
            head.load_state_dict({k.removeprefix("score."): v for k, v in w.items()})
            return head.to(model.dtype)
        w = read_weights(self.folder, ["v_head.summary.weight", "v_head.summary.bias"])
        head = nn.Linear(hidden, 1)
        head.load_state_dict(
            {"weight": w["v_head.summary.weight"], "bias": w["v_head.summary.bias"]}
        )
        # Skywork's ValueHead computes in its own weights' dtype (as saved).
        return head.to(w["v_head.summary.weight"].dtype)

    @property
    def params(self) -> int:
        """The model's parameter count, head included (loads the model)."""
        self.load()
        return self._params

    @property
    def tokenizer(self) -> Any:
        """The tokenizer (loads the model)."""
        self.load()
        return self._tokenizer

    @property
    def encoder(self) -> StepEncoder:
        """The format's encoder (loads the model)."""
        self.load()
        return self._encoder  # type: ignore[no-any-return]

    def encode(self, question: str, solution: str) -> PRMEncoding:
        """The model input for one solution, as scored (loads the model)."""
        return self.encoder.encode(question, split_steps(solution, self.step_delimiter))

    # ----------------------------------------------------------------- scoring

    def _score(self, question: str, solutions: list[str]) -> ScoreResult:
        self.load()
        steps: list[list[float]] = [[EMPTY_SOLUTION_SCORE] for _ in solutions]
        encodings = {
            i: self.encode(question, sol)
            for i, sol in enumerate(solutions)
            if split_steps(sol, self.step_delimiter)
        }
        order = sorted(encodings, key=lambda i: -len(encodings[i].input_ids))
        size = self.batch_size or max(len(order), 1)
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            for i, scores in zip(chunk, self._forward([encodings[i] for i in chunk]), strict=True):
                steps[i] = scores
        tokens = sum(len(e.input_ids) for e in encodings.values())
        return ScoreResult(steps=steps, tokens=tokens, flops=2.0 * self._params * tokens)

    def _forward(self, batch: list[PRMEncoding]) -> list[list[float]]:
        import torch

        model = self._model
        device = next(model.parameters()).device
        pad = self._tokenizer.pad_token_id
        pad = 0 if pad is None else int(pad)
        length = max(len(e.input_ids) for e in batch)
        ids = torch.full((len(batch), length), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), length), dtype=torch.long)
        for row, enc in enumerate(batch):
            ids[row, : len(enc.input_ids)] = torch.tensor(enc.input_ids, dtype=torch.long)
            mask[row, : len(enc.input_ids)] = 1
        rows = torch.tensor([r for r, e in enumerate(batch) for _ in e.tag_positions])
        cols = torch.tensor([p for e in batch for p in e.tag_positions])
        with torch.inference_mode():
            # No KV cache: nothing is generated, and one pass over a whole call is large.
            kwargs: dict[str, Any] = {
                "input_ids": ids.to(device),
                "attention_mask": mask.to(device),
                "use_cache": False,
            }
            if self.head == "lm-pair":
                pair_ids = torch.tensor(
                    [self._encoder.good_id, self._encoder.bad_id], device=device
                )
                if self._keep_logits:
                    # Project only the positions read onto the vocabulary.
                    wanted = sorted(set(cols.tolist()))
                    where = {p: c for c, p in enumerate(wanted)}
                    kwargs["logits_to_keep"] = torch.tensor(wanted, dtype=torch.long, device=device)
                    cols = torch.tensor([where[int(c)] for c in cols])
                logits = model(**kwargs).logits
                pair = logits[rows.to(device), cols.to(device)].index_select(-1, pair_ids)
                probs = torch.softmax(pair.float(), dim=-1)[:, 0]
            else:
                hidden = model(**kwargs).last_hidden_state[rows.to(device), cols.to(device)]
                weight = next(self._head_module.parameters())
                out = self._head_module(hidden.to(weight.dtype))
                if self.head == "classifier":
                    probs = torch.softmax(out.float(), dim=-1)[:, 1]
                else:
                    probs = torch.sigmoid(out.float()).squeeze(-1)
        flat = [float(v) for v in probs.cpu().tolist()]
        result: list[list[float]] = []
        for enc in batch:
            result.append(flat[: len(enc.tag_positions)])
            flat = flat[len(enc.tag_positions) :]
        return result
