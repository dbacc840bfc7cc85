"""Loading a local causal LM and its tokenizer for ``TransformersGenerator``.

Everything here imports torch and transformers only when a model or
tokenizer is actually loaded, and the parameter count is read from the
safetensors headers in pure Python: building a generator touches no
framework, lists no folder, and can run on an event loop.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["count_safetensors_params", "eos_ids", "load_model", "load_tokenizer", "resolve_dtype"]


def load_model(
    source: str | None,
    model: Any,
    *,
    device: str | None,
    dtype: str | torch.dtype | None,
) -> Any:
    """The model in eval mode: ``model`` as given, or loaded from ``source``.

    Args:
        source: A model folder or hub id, loaded when ``model`` is ``None``.
        model: A loaded model, or ``None``.
        device: Torch device; CUDA when available, else CPU. A loaded model is
            moved only when ``device`` is given.
        dtype: Torch dtype or its name (see ``resolve_dtype``). A loaded model is
            cast only when ``dtype`` is given.
    """
    import torch

    target = device or ("cuda" if torch.cuda.is_available() else "cpu")
    resolved = resolve_dtype(dtype, target)
    if model is None:
        assert source is not None
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(source, dtype=resolved)
        model.to(target)
    else:
        if device is not None:
            model.to(target)
        if dtype is not None:
            model.to(resolved)
    model.eval()
    return model


def load_tokenizer(tokenizer: Any, *, source: str | None, model: Any) -> Any:
    """The tokenizer: ``tokenizer`` as given, loaded from where it names, or the model's.

    Args:
        tokenizer: A tokenizer, a folder or hub id to load one from, or ``None``
            for the model's own (from ``source`` or the model's ``name_or_path``).
        source: The model's folder or hub id, if it was loaded from one.
        model: The loaded model.

    Raises:
        ValueError: If no tokenizer is given and the model says nothing of where it came from.
    """
    if tokenizer is None:
        tok_src = source or getattr(model, "name_or_path", None)
        if not tok_src:
            raise ValueError(
                "tokenizer is required when model is a loaded model without name_or_path"
            )
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(tok_src)
    if isinstance(tokenizer, str | os.PathLike):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(tokenizer))
    return tokenizer


def resolve_dtype(dtype: str | torch.dtype | None, device: str) -> torch.dtype:
    """The torch dtype to load in: ``dtype`` itself, its name, or the device's default.

    Args:
        dtype: A torch dtype, its name (``"float32"``, ``"torch.bfloat16"``) or ``None``.
        device: The target device; ``None`` means bfloat16 on CUDA, float32 elsewhere.

    Raises:
        ValueError: If ``dtype`` names no torch dtype.
    """
    import torch

    if dtype is None:
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    value = getattr(torch, dtype.removeprefix("torch."), None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"dtype must name a torch dtype (e.g. 'float32'), got {dtype!r}")
    return value


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every EOS id the model's generation config or the tokenizer names."""
    ids: set[int] = set()
    cfg_eos = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(cfg_eos, int):
        ids.add(cfg_eos)
    elif isinstance(cfg_eos, list | tuple):
        ids.update(int(x) for x in cfg_eos)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def count_safetensors_params(path: Path) -> int | None:
    """Count parameters from the safetensors headers of a local folder, without loading.

    Reads ``model.safetensors``, or the shards that ``model.safetensors.index.json``
    names, and only falls back to listing the folder when neither exists. No
    framework is imported: a header is 8 bytes of length and then JSON.

    Returns:
        The count, or ``None`` for no local folder or no safetensors file.
    """
    if not path.is_dir():
        return None
    single = path / "model.safetensors"
    index = path / "model.safetensors.index.json"
    if single.is_file():
        files = [single]
    elif index.is_file():
        weight_map = json.loads(index.read_text()).get("weight_map") or {}
        files = [path / name for name in sorted(set(weight_map.values()))]
    else:
        files = sorted(path.glob("*.safetensors"))
    if not files:
        return None
    try:
        return sum(_header_params(f) for f in files)
    except (OSError, ValueError, struct.error):
        return None


def _header_params(file: Path) -> int:
    with file.open("rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
    total = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        n = 1
        for d in entry["shape"]:
            n *= int(d)
        total += n
    return total
