"""The PRM formats ``load_prm`` knows, how each is recognised, and how to add one.

A format is a :class:`PRMFormat`: a name, a ``detect`` test on a
checkpoint's :class:`CheckpointInfo` (its config, tokenizer and weight
names), a ``build`` that returns the verifier, and, for the remote PRM, an
``encoder`` (the ids and score positions) and a ``read_row`` (a pooling row
to a probability). Register your own with :func:`register_prm_format`;
formats are tried in registration order, the built-in ones first.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph_ttc.types import Verifier
from langgraph_ttc.verifiers.prm_formats.encoders import (
    MATH_SHEPHERD_STEP_TAG,
    MathShepherdEncoder,
    QwenPRMEncoder,
    RLHFlowEncoder,
    SkyworkEncoder,
    StepEncoder,
    token_in_vocab,
)

__all__ = [
    "CheckpointInfo",
    "PRMFormat",
    "detect_prm_format",
    "format_encoder",
    "get_prm_format",
    "inspect_checkpoint",
    "register_prm_format",
    "supported_prm_formats",
]


@dataclass
class CheckpointInfo:
    """What a checkpoint folder says about itself, for ``detect``.

    Attributes:
        folder: The folder.
        config: ``config.json`` as a dict.
        architectures: ``config["architectures"]`` (may be empty).
        weight_names: The tensor names in its weight files.
        tokenizer: Its tokenizer, loaded with transformers.
        trained_here: Whether this project's training wrote it (``training.json``
            with ``"kind": "prm"``): the bundled Math-Shepherd-style template.
    """

    folder: Path
    config: dict[str, Any]
    architectures: list[str]
    weight_names: set[str]
    tokenizer: Any
    trained_here: bool = False


@dataclass(frozen=True)
class PRMFormat:
    """One PRM format: how to recognise it, build it, and read it remotely.

    Attributes:
        name: The ``format=`` name.
        detect: True when a checkpoint is of this format.
        build: ``build(info, step_delimiter=..., device=..., dtype=..., **options)``
            returns the verifier; it should check the tokenizer at once.
        encoder: ``encoder(tokenizer, info_or_None, step_delimiter)``: the
            format's :class:`~langgraph_ttc.verifiers.prm_formats.encoders.StepEncoder`
            (needed by the remote PRM).
        read_row: A pooling row (the server's values at one score position)
            to the step's probability (needed by the remote PRM).
        pooler_config: The vLLM ``--pooler-config`` that serves the format,
            from its encoder.
        description: One line for docs and errors.
    """

    name: str
    detect: Callable[[CheckpointInfo], bool]
    build: Callable[..., Verifier]
    encoder: Callable[[Any, CheckpointInfo | None, str], StepEncoder] | None = None
    read_row: Callable[[list[float]], float] | None = None
    pooler_config: Callable[[Any], dict[str, Any]] | None = None
    description: str = field(default="")


_FORMATS: dict[str, PRMFormat] = {}


def register_prm_format(
    name: str,
    detect: Callable[[CheckpointInfo], bool],
    build: Callable[..., Verifier],
    *,
    encoder: Callable[[Any, CheckpointInfo | None, str], StepEncoder] | None = None,
    read_row: Callable[[list[float]], float] | None = None,
    pooler_config: Callable[[Any], dict[str, Any]] | None = None,
    description: str = "",
    replace: bool = False,
) -> PRMFormat:
    """Add a PRM format to ``load_prm`` (and, with ``encoder`` and ``read_row``, to ``VLLMPRM``).

    Example::

        def detect(info):
            return "MyPRMForCausalLM" in info.architectures

        def build(info, *, step_delimiter, device, dtype, **options):
            return MyPRM(info.folder, step_delimiter=step_delimiter, device=device)

        register_prm_format("my-prm", detect, build)
        prm = load_prm("path/to/my-prm")  # detected, or format="my-prm"

    Args:
        name: The format's name.
        detect: See :class:`PRMFormat`.
        build: See :class:`PRMFormat`.
        encoder: See :class:`PRMFormat`.
        read_row: See :class:`PRMFormat`.
        pooler_config: See :class:`PRMFormat`.
        description: One line saying what the format is.
        replace: Allow replacing a registered format of that name.

    Raises:
        ValueError: On an empty name, or a name taken (without ``replace``).
        TypeError: If ``detect`` or ``build`` is not callable.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    if not callable(detect) or not callable(build):
        raise TypeError("detect and build must be callables")
    if name in _FORMATS and not replace:
        raise ValueError(f"PRM format {name!r} is already registered (pass replace=True)")
    fmt = PRMFormat(name, detect, build, encoder, read_row, pooler_config, description)
    _FORMATS[name] = fmt
    return fmt


def supported_prm_formats() -> list[str]:
    """The registered format names, in detection order."""
    return list(_FORMATS)


def get_prm_format(name: str) -> PRMFormat:
    """The registered format ``name``.

    Raises:
        ValueError: For an unknown name, listing the supported ones.
    """
    if name not in _FORMATS:
        raise ValueError(
            f"unknown PRM format {name!r}; supported formats: {', '.join(supported_prm_formats())}"
        )
    return _FORMATS[name]


def format_encoder(format: str, tokenizer: Any, step_delimiter: str = "\n") -> StepEncoder:
    """The encoder of ``format`` on ``tokenizer`` (an object or its folder).

    A folder written by this project's training (``training.json``) gets the
    bundled Math-Shepherd-style template.

    Raises:
        ValueError: For an unknown format or one without an encoder, or a
            tokenizer that lacks the format's tokens.
    """
    fmt = get_prm_format(format)
    if fmt.encoder is None:
        raise ValueError(f"PRM format {format!r} has no encoder")
    info = None
    if isinstance(tokenizer, str | os.PathLike):
        from transformers import AutoTokenizer

        folder = Path(tokenizer)
        tokenizer = AutoTokenizer.from_pretrained(os.fspath(folder))
        marker = folder / "training.json"
        trained = marker.is_file() and json.loads(marker.read_text()).get("kind") == "prm"
        info = CheckpointInfo(folder, {}, [], set(), tokenizer, trained)
    return fmt.encoder(tokenizer, info, step_delimiter)


# ---------------------------------------------------------------- inspection


def _safetensors_names(path: Path) -> set[str]:
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    return {k for k in header if k != "__metadata__"}


def _weight_names(folder: Path) -> set[str] | None:
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / index).is_file():
            return set(json.loads((folder / index).read_text())["weight_map"])
    if (folder / "model.safetensors").is_file():
        return _safetensors_names(folder / "model.safetensors")
    if (folder / "pytorch_model.bin").is_file():
        import torch

        state = torch.load(folder / "pytorch_model.bin", map_location="meta", weights_only=True)
        return set(state)
    return None


def resolve_folder(path_or_id: str | os.PathLike[str]) -> Path:
    """A local folder, or a hub id's snapshot in the local cache (fetched when online).

    Raises:
        TypeError: If ``path_or_id`` is not a path or a string.
        ValueError: If it is neither a folder nor a hub id that can be had.
    """
    if not isinstance(path_or_id, str | os.PathLike):
        raise TypeError(f"path_or_id must be a path or a hub id, got {type(path_or_id).__name__}")
    path = Path(path_or_id)
    if path.is_dir():
        return path
    text = os.fspath(path_or_id)
    if path.exists() or text.count("/") != 1 or text.startswith((".", "/")):
        raise ValueError(f"{text}: not a model folder and not a hub id (owner/name)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(text))
    except Exception as exc:  # offline and not cached, unknown repo, no access
        raise ValueError(
            f"{text}: not a local folder, and the hub copy is not available "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def inspect_checkpoint(path_or_id: str | os.PathLike[str]) -> CheckpointInfo:
    """Read a checkpoint's config, weight names and tokenizer (not its weights).

    Raises:
        ValueError: If the folder holds no model (no ``config.json`` or no
            weights) or no tokenizer.
    """
    folder = resolve_folder(path_or_id)
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder}: no model here (no config.json)")
    names = _weight_names(folder)
    if names is None:
        raise ValueError(
            f"{folder}: no model weights here (no model.safetensors, pytorch_model.bin "
            "or sharded index)"
        )
    config = json.loads((folder / "config.json").read_text())
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:
        raise ValueError(f"{folder}: no usable tokenizer ({type(exc).__name__}: {exc})") from exc
    trained = _bundled_style(tokenizer)
    if (folder / "training.json").is_file():
        trained = json.loads((folder / "training.json").read_text()).get("kind") == "prm"
    return CheckpointInfo(
        folder, config, list(config.get("architectures") or []), names, tokenizer, trained
    )


def _bundled_style(tokenizer: Any) -> bool:
    """Whether a folder without ``training.json`` still has the bundled template's tokenizer.

    Math-Shepherd's own (Mistral) tokenizer prepends a BOS, and its authors
    read ``encode("+ -")[1:]``; the bundled template's tokenizer adds nothing
    and has the step tag, ``+`` and ``-`` as single tokens. A folder built
    from this project's tokenizer (a test's tiny model, a user's own training)
    is read with the bundled template.
    """
    try:
        tokens = (MATH_SHEPHERD_STEP_TAG, "+", "-")
        ids = [tokenizer.encode(t, add_special_tokens=True) for t in tokens]
    except Exception:  # a tokenizer that cannot encode these is not the bundled one
        return False
    return all(len(x) == 1 for x in ids)


def detect_prm_format(info: CheckpointInfo) -> PRMFormat:
    """The first registered format whose ``detect`` accepts ``info``.

    Raises:
        ValueError: If none does, listing the supported formats.
    """
    for fmt in _FORMATS.values():
        if fmt.detect(info):
            return fmt
    raise ValueError(
        f"{info.folder}: not a PRM of a known format (architectures {info.architectures}); "
        f"supported formats: {', '.join(supported_prm_formats())}. Pass format= to choose one, "
        "or add one with register_prm_format"
    )


# ---------------------------------------------------------------- built-in formats


def _check_options(fmt: str, options: dict[str, Any], allowed: Sequence[str]) -> None:
    extra = sorted(set(options) - set(allowed))
    if extra:
        raise TypeError(
            f"format {fmt!r} takes no option(s) {', '.join(extra)}; it takes: "
            f"{', '.join(sorted(allowed)) or 'none'}"
        )


_HEAD_WEIGHTS = {
    "classifier": ("score.0.weight", "score.0.bias", "score.2.weight", "score.2.bias"),
    "value": ("v_head.summary.weight", "v_head.summary.bias"),
}


def _local(
    info: CheckpointInfo,
    fmt: str,
    head: str,
    make: Callable[[Any], StepEncoder],
    *,
    step_delimiter: str,
    device: Any,
    dtype: Any,
    options: dict[str, Any],
) -> Verifier:
    from langgraph_ttc.verifiers.prm_formats.local import LocalPRM

    _check_options(fmt, options, ("batch_size", "name"))
    make(info.tokenizer)  # the tokenizer's tokens are checked now, not on first use
    missing = [n for n in _HEAD_WEIGHTS.get(head, ()) if n not in info.weight_names]
    if missing:
        raise ValueError(
            f"{info.folder}: no {', '.join(missing)} weights: not a {fmt!r} checkpoint"
        )
    return LocalPRM(
        info.folder,
        format=fmt,
        head=head,  # type: ignore[arg-type]
        make_encoder=make,
        step_delimiter=step_delimiter,
        device=device,
        dtype=dtype,
        **options,
    )


def _ms_encoder(tok: Any, info: CheckpointInfo | None, delimiter: str) -> StepEncoder:
    if info is not None and info.trained_here:
        from langgraph_ttc.verifiers.prm_formats.encoders import BundledEncoder

        return BundledEncoder(tok)
    return MathShepherdEncoder(tok)


def _split(kw: dict[str, Any]) -> dict[str, Any]:
    return {k: kw[k] for k in ("step_delimiter", "device", "dtype")}


def _rest(kw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if k not in ("step_delimiter", "device", "dtype")}


def _build_math_shepherd(info: CheckpointInfo, **kw: Any) -> Verifier:
    options = _rest(kw)
    if not info.trained_here:
        return _local(
            info, "math-shepherd", "lm-pair", MathShepherdEncoder, **_split(kw), options=options
        )
    # The bundled PRM (this project's training): TransformersPRM reads its template.
    from langgraph_ttc.verifiers.prm import TransformersPRM

    _check_options("math-shepherd", options, ("batch_size", "name"))
    options.setdefault("batch_size", 1 << 20)  # one forward pass per call
    return TransformersPRM(info.folder, **_split(kw), **options)


def _build_rlhflow(info: CheckpointInfo, **kw: Any) -> Verifier:
    return _local(info, "rlhflow", "lm-pair", RLHFlowEncoder, **_split(kw), options=_rest(kw))


def _build_qwen(info: CheckpointInfo, **kw: Any) -> Verifier:
    return _local(info, "qwen-prm", "classifier", QwenPRMEncoder, **_split(kw), options=_rest(kw))


def _build_skywork(info: CheckpointInfo, **kw: Any) -> Verifier:
    delimiter = kw["step_delimiter"]

    def make(tok: Any) -> StepEncoder:
        return SkyworkEncoder(tok, step_token=delimiter)

    return _local(info, "skywork", "value", make, **_split(kw), options=_rest(kw))


def _is_causal_lm(info: CheckpointInfo) -> bool:
    return any(a.endswith("ForCausalLM") for a in info.architectures)


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value)) if value >= 0 else math.exp(value) / (1 + math.exp(value))


register_prm_format(
    "qwen-prm",
    lambda i: (
        "Qwen2ForProcessRewardModel" in i.architectures
        or {"score.0.weight", "score.2.weight"} <= i.weight_names
    ),
    _build_qwen,
    encoder=lambda tok, info, delim: QwenPRMEncoder(tok),
    read_row=lambda row: float(row[1]),
    pooler_config=lambda enc: {"pooling_type": "STEP", "step_tag_id": enc.step_id},
    description="Qwen2.5-Math-PRM: <extra_0> after each step, a 2-class head, P(class 1)",
)
register_prm_format(
    "skywork",
    lambda i: "Qwen2ForPrmModel" in i.architectures or "v_head.summary.weight" in i.weight_names,
    _build_skywork,
    encoder=lambda tok, info, delim: SkyworkEncoder(tok, step_token=delim),
    read_row=lambda row: _sigmoid(float(row[0])),
    pooler_config=lambda enc: {"pooling_type": "ALL"},
    description="Skywork-o1-Open-PRM: a value head at each step's last token, sigmoid",
)
register_prm_format(
    "math-shepherd",
    lambda i: _is_causal_lm(i) and token_in_vocab(i.tokenizer, MATH_SHEPHERD_STEP_TAG),
    _build_math_shepherd,
    encoder=_ms_encoder,
    read_row=lambda row: float(row[0]),
    pooler_config=lambda enc: {
        "pooling_type": "STEP",
        "step_tag_id": enc.step_tag_id,
        "returned_token_ids": [enc.good_id, enc.bad_id],
    },
    description="Math-Shepherd: the tag 'ки' after each step, P('+') against P('-') there",
)
register_prm_format(
    "rlhflow",
    lambda i: _is_causal_lm(i) and "<|start_header_id|>" in (i.tokenizer.chat_template or ""),
    _build_rlhflow,
    encoder=lambda tok, info, delim: RLHFlowEncoder(tok),
    read_row=lambda row: float(row[0]),
    pooler_config=lambda enc: {
        "pooling_type": "STEP",
        "returned_token_ids": [enc.good_id, enc.bad_id],
    },
    description="RLHFlow: each step a user turn answered '+', P('+') against P('-')",
)
