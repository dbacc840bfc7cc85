"""Model shapes for the bundled suite, and loading of the shipped weights.

Finding the shipped models (``bundled_model_path``) imports neither torch nor
transformers; ``build_config`` imports transformers when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import LlamaConfig

BUNDLED_DIR = Path(__file__).parent / "models"
BUNDLED_MODELS = ("policy-small", "policy-large", "prm", "reviser")

# policy-large is about 14x policy-small, the paper's FLOPs-matched ratio.
SHAPES: dict[str, dict[str, int]] = {
    "tiny": {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
    },
    "small": {
        "hidden_size": 128,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "intermediate_size": 336,
    },
    "large": {
        "hidden_size": 384,
        "num_hidden_layers": 6,
        "num_attention_heads": 6,
        "intermediate_size": 1152,
    },
}


def build_config(shape: str = "small", *, max_positions: int = 1024) -> LlamaConfig:
    """A Llama config of one of ``SHAPES``, sized for the suite's tokenizer."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {sorted(SHAPES)}, got {shape!r}")
    from transformers import LlamaConfig

    from langgraph_ttc.suite.tokenizer import build_tokenizer

    tok = build_tokenizer()
    shape_kwargs: dict[str, Any] = dict(SHAPES[shape])
    return LlamaConfig(
        vocab_size=len(tok),
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **shape_kwargs,
    )


def bundled_model_path(name: str) -> Path:
    """The folder of a shipped model: ``policy-small``, ``policy-large``, ``prm`` or ``reviser``.

    Raises:
        ValueError: For an unknown name.
        FileNotFoundError: If the weights are missing from the installation.
    """
    if name not in BUNDLED_MODELS:
        raise ValueError(f"bundled model must be one of {BUNDLED_MODELS}, got {name!r}")
    path = BUNDLED_DIR / name
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"bundled model {name!r} is missing at {path}")
    return path
