"""Published PRM formats: load a real PRM checkpoint, or score through a vLLM server.

- :func:`load_prm`: a checkpoint folder (or hub id) to a verifier that scores
  steps as the model's authors do. Formats: ``math-shepherd`` (the bundled
  PRM and peiyi9979/math-shepherd-mistral-7b-prm), ``rlhflow``
  (RLHFlow/Llama3.1-8B-PRM-*), ``qwen-prm`` (Qwen/Qwen2.5-Math-PRM-7B/72B,
  no remote code), ``skywork`` (Skywork/Skywork-o1-Open-PRM-Qwen-2.5-*).
- :class:`~langgraph_ttc.verifiers.prm_formats.remote.VLLMPRM`: the same
  scores from vLLM's pooling API.
- :func:`register_prm_format`: add a format.

Nothing here imports torch until a model loads.
"""

from __future__ import annotations

import os
from typing import Any

from langgraph_ttc.types import Verifier
from langgraph_ttc.verifiers.prm_formats.registry import (
    CheckpointInfo,
    PRMFormat,
    detect_prm_format,
    format_encoder,
    get_prm_format,
    inspect_checkpoint,
    register_prm_format,
    supported_prm_formats,
)

__all__ = [
    "CheckpointInfo",
    "PRMFormat",
    "detect_prm_format",
    "format_encoder",
    "get_prm_format",
    "inspect_checkpoint",
    "load_prm",
    "register_prm_format",
    "supported_prm_formats",
    "vllm_pooler_config",
]


def load_prm(
    path_or_id: str | os.PathLike[str],
    *,
    format: str | None = None,
    step_delimiter: str = "\n",
    device: Any = None,
    dtype: Any = None,
    **options: Any,
) -> Verifier:
    """Load a PRM checkpoint as a verifier that scores steps as its authors do.

    The format is recognised from the checkpoint (architectures, head
    weights, special tokens; see ``supported_prm_formats()`` for the order)
    unless ``format`` names it. The tokenizer is checked now; the weights
    load on first use (or ``.load()``).

    Args:
        path_or_id: A checkpoint folder, or a hub id already in the local
            cache (or fetched, when online).
        format: ``"math-shepherd"``, ``"rlhflow"``, ``"qwen-prm"``,
            ``"skywork"`` or a registered one; ``None`` detects it.
        step_delimiter: Where solutions are cut into steps (``"\\n\\n"`` for
            chat models that leave a blank line between steps). Skywork also
            uses it as its step token.
        device: Torch device; by default CUDA if present, else the CPU.
        dtype: Torch dtype (or its name); by default the checkpoint's.
        **options: The format's options: ``batch_size`` (sequences per forward
            pass; by default all of a call in one) and ``name``.

    Returns:
        A verifier (``score``/``ascore`` give one score in [0, 1] per step,
        and the tokens and FLOPs it cost).

    Raises:
        TypeError: On an option the format does not take.
        ValueError: If the folder holds no model, the format is unknown or
            not recognised (the message lists the supported ones), or the
            tokenizer lacks the format's step token.
    """
    if not isinstance(step_delimiter, str) or not step_delimiter:
        raise ValueError(f"step_delimiter must be a non-empty str, got {step_delimiter!r}")
    if format is not None and not isinstance(format, str):
        raise TypeError(f"format must be a str or None, got {type(format).__name__}")
    fmt = get_prm_format(format) if format is not None else None
    info = inspect_checkpoint(path_or_id)
    if fmt is None:
        fmt = detect_prm_format(info)
    return fmt.build(info, step_delimiter=step_delimiter, device=device, dtype=dtype, **options)


def vllm_pooler_config(
    tokenizer: Any, format: str, *, step_delimiter: str = "\n"
) -> dict[str, Any]:
    """The ``vllm serve --pooler-config`` JSON that serves ``format`` for ``VLLMPRM``.

    Args:
        tokenizer: The PRM's tokenizer, or its folder.
        format: A registered format name.
        step_delimiter: As given to the verifier.

    Raises:
        ValueError: For an unknown format, or one with no vLLM recipe.
    """
    fmt = get_prm_format(format)
    if fmt.encoder is None or fmt.pooler_config is None:
        raise ValueError(f"PRM format {format!r} has no vLLM pooling recipe")
    return fmt.pooler_config(format_encoder(format, tokenizer, step_delimiter))
