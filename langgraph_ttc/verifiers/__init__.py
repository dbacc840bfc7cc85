"""Verifiers: score solutions, per step (process) or per solution (outcome).

Every verifier follows ``langgraph_ttc.types.Verifier``: ``score(question,
solutions)`` and ``async ascore(...)`` return a ``ScoreResult`` with one score
list per solution, each score finite and in [0, 1], plus the verifier's own
token and FLOP cost.

- :class:`TransformersPRM`: a Math-Shepherd-style process reward model on a
  Hugging Face causal LM (one score per step).
- :class:`LLMJudge`: any generator asked "is this correct?" (per solution or per step).
- :class:`FunctionVerifier`: a checker function, such as ``suite.task.check``.
- :func:`load_prm`: a published PRM checkpoint (Math-Shepherd, RLHFlow,
  Qwen2.5-Math-PRM, Skywork-o1-Open-PRM, or a format added with
  :func:`register_prm_format`), scored as its authors score it;
  :class:`VLLMPRM`: the same scores from a vLLM server's pooling API.
- :class:`TransformersLikelihoodVerifier` / :class:`OpenAILikelihoodVerifier`:
  no training, a causal LM's probability of each step's tokens (local model,
  or an OpenAI-compatible completions endpoint that echoes prompt logprobs).

Majority voting needs no verifier: see ``langgraph_ttc.answers.aggregate``.

The PRM's names (``TransformersPRM`` and its input helpers) and the
likelihood verifiers are imported lazily, on first use, so ``import
langgraph_ttc.verifiers`` for a judge or a function verifier never loads the
modules that work with torch, transformers and openai. The local ones need
the ``[local]`` extra; without it, asking for them raises an ``ImportError``
that names ``pip install 'langgraph-ttc[local]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph_ttc.models.errors import local_extra_error, require_local
from langgraph_ttc.verifiers.base import (
    EMPTY_SOLUTION_SCORE,
    BaseVerifier,
    check_score_result,
    check_solutions,
    split_steps,
)
from langgraph_ttc.verifiers.function import FunctionVerifier
from langgraph_ttc.verifiers.judge import OUTCOME_PROMPT, STEP_PROMPT, UNPARSEABLE_SCORE, LLMJudge

if TYPE_CHECKING:
    from langgraph_ttc.verifiers.likelihood import TransformersLikelihoodVerifier
    from langgraph_ttc.verifiers.likelihood_common import TokenFold
    from langgraph_ttc.verifiers.likelihood_remote import OpenAILikelihoodVerifier
    from langgraph_ttc.verifiers.prm import (
        PRM_TEMPLATE,
        PRMEncoding,
        TransformersPRM,
        encode_prm_input,
        format_prm_input,
        resolve_single_token,
    )
    from langgraph_ttc.verifiers.prm_formats import (
        CheckpointInfo,
        PRMFormat,
        load_prm,
        register_prm_format,
        supported_prm_formats,
        vllm_pooler_config,
    )
    from langgraph_ttc.verifiers.prm_formats.remote import VLLMPRM

_LAZY = {
    name: "langgraph_ttc.verifiers.prm"
    for name in (
        "PRM_TEMPLATE",
        "PRMEncoding",
        "TransformersPRM",
        "encode_prm_input",
        "format_prm_input",
        "resolve_single_token",
    )
}
for _name in (
    "CheckpointInfo",
    "PRMFormat",
    "load_prm",
    "register_prm_format",
    "supported_prm_formats",
    "vllm_pooler_config",
):
    _LAZY[_name] = "langgraph_ttc.verifiers.prm_formats"
_LAZY["VLLMPRM"] = "langgraph_ttc.verifiers.prm_formats.remote"
_LAZY["TransformersLikelihoodVerifier"] = "langgraph_ttc.verifiers.likelihood"
_LAZY["TokenFold"] = "langgraph_ttc.verifiers.likelihood_common"
_LAZY["OpenAILikelihoodVerifier"] = "langgraph_ttc.verifiers.likelihood_remote"

__all__ = [
    "EMPTY_SOLUTION_SCORE",
    "OUTCOME_PROMPT",
    "PRM_TEMPLATE",
    "STEP_PROMPT",
    "UNPARSEABLE_SCORE",
    "VLLMPRM",
    "BaseVerifier",
    "CheckpointInfo",
    "FunctionVerifier",
    "LLMJudge",
    "OpenAILikelihoodVerifier",
    "PRMEncoding",
    "PRMFormat",
    "TokenFold",
    "TransformersLikelihoodVerifier",
    "TransformersPRM",
    "check_score_result",
    "check_solutions",
    "encode_prm_input",
    "format_prm_input",
    "load_prm",
    "register_prm_format",
    "resolve_single_token",
    "split_steps",
    "supported_prm_formats",
    "vllm_pooler_config",
]


# Names that run a model locally: without the [local] extra they say which install to run.
_LOCAL = {"TransformersPRM", "TransformersLikelihoodVerifier", "load_prm"}
_LOCAL_MODULES = ("torch", "transformers", "safetensors", "tokenizers")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        if name in _LOCAL:
            require_local(name)
        try:
            module = importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as exc:
            if exc.name in _LOCAL_MODULES:
                raise local_extra_error(name, exc.name) from exc
            raise
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
