"""Loading a local causal LM and its tokenizer for a verifier (torch imported on use)."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

__all__ = ["load_causal_lm", "model_source", "takes_logits_to_keep"]


def model_source(model: Any) -> tuple[str | None, Any, str]:
    """``(source, loaded model, default name)`` of a path, hub id or loaded model.

    Raises:
        TypeError: For anything else.
    """
    if isinstance(model, str | os.PathLike):
        source = os.fspath(model)
        return source, None, Path(source).name or source
    if hasattr(model, "forward") and hasattr(model, "config"):
        name = str(getattr(model.config, "name_or_path", "") or type(model).__name__)
        return None, model, Path(name).name or name
    raise TypeError(
        f"model must be a path, a hub id or a PreTrainedModel, got {type(model).__name__}"
    )


def load_causal_lm(
    source: Any, model: Any, tokenizer: Any, *, device: Any, dtype: Any
) -> tuple[Any, Any]:
    """The model (loaded from ``source`` unless given), on its device and dtype, and a tokenizer.

    Args:
        source: A model folder or hub id (used when ``model`` is ``None``).
        model: A loaded ``PreTrainedModel``, or ``None``.
        tokenizer: A tokenizer, or ``None`` to load the model's own.
        device: Torch device; a loaded model given without one stays where it is,
            a model loaded here goes to CUDA when present, else the CPU.
        dtype: Torch dtype or its name, or ``None`` for the checkpoint's.

    Raises:
        ValueError: When no tokenizer is given and the model has no ``name_or_path``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if model is None:
        kwargs: dict[str, Any] = {"dtype": dtype} if dtype is not None else {}
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    else:
        if device is not None:
            model.to(device)
        if dtype is not None:
            model.to(dtype)
    model.eval()
    if tokenizer is None:
        name = source or getattr(model.config, "name_or_path", None)
        if not name:
            raise ValueError("tokenizer is required when the model has no name_or_path")
        tokenizer = AutoTokenizer.from_pretrained(name)
    return model, tokenizer


def takes_logits_to_keep(model: Any) -> bool:
    """Whether ``model.forward`` can skip the logits of positions nobody reads."""
    return "logits_to_keep" in inspect.signature(model.forward).parameters
