"""The model options of ``ttc solve`` and ``ttc serve``, and the models they build.

``add_model_options`` adds ``--model``, ``--verifier``, ``--reviser``,
``--endpoint`` and their settings to a parser; ``build_models`` turns the
parsed options into ``(generator, verifier, reviser)``: the bundled models
when no model option is given, a local Hugging Face model, or an
OpenAI-compatible endpoint.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

__all__ = ["UsageError", "add_model_options", "build_models"]


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit code 2."""


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that choose the policy, verifier and reviser models."""
    parser.add_argument("--model", metavar="PATH_OR_ID", help="local Hugging Face policy model")
    parser.add_argument("--verifier", metavar="PATH_OR_ID", help="local process reward model")
    parser.add_argument("--reviser", metavar="PATH_OR_ID", help="local revision model")
    parser.add_argument("--endpoint", metavar="URL", help="OpenAI-compatible base URL (…/v1)")
    parser.add_argument("--api-key", metavar="KEY", help="endpoint key (default: $OPENAI_API_KEY)")
    parser.add_argument("--endpoint-model", metavar="NAME", help="model name at the endpoint")
    parser.add_argument("--device", help="torch device for local models (default: cuda if present)")


def build_models(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(generator, verifier, reviser) for the options given."""
    if not args.endpoint or args.verifier or args.reviser:
        # Our own bar is the progress; transformers' "Loading weights" bars are noise.
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if args.endpoint and args.model:
        raise UsageError("--model and --endpoint are exclusive: one policy model per run")
    if (args.api_key or args.endpoint_model) and not args.endpoint:
        raise UsageError("--api-key and --endpoint-model need --endpoint")
    if args.endpoint and not args.endpoint_model:
        raise UsageError("--endpoint needs --endpoint-model (the model name the server serves)")
    if not (args.model or args.endpoint):
        from langgraph_ttc.defaults import load_bundled

        bundled = load_bundled(args.device)
        verifier = (
            _local_verifier(args.verifier, args.device) if args.verifier else bundled.verifier
        )
        reviser = (
            _local_generator(args.reviser, args.device, "--reviser")
            if args.reviser
            else bundled.reviser
        )
        return bundled.generator, verifier, reviser
    if args.endpoint:
        from langgraph_ttc.models import OpenAIGenerator

        api_key = args.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        generator = OpenAIGenerator(args.endpoint_model, base_url=args.endpoint, api_key=api_key)
    else:
        generator = _local_generator(args.model, args.device)
    verifier = _local_verifier(args.verifier, args.device) if args.verifier else None
    reviser = _local_generator(args.reviser, args.device, "--reviser") if args.reviser else None
    return generator, verifier, reviser


def _check_local(path: str, option: str) -> str:
    """Fail early on a model folder that does not exist (hub ids pass through)."""
    # A hub id is "name" or "org/name"; anything else that names a folder must exist.
    looks_local = path.startswith(("/", ".", "~")) or path.count("/") > 1
    if looks_local and not os.path.isdir(os.path.expanduser(path)):
        raise UsageError(f"{option}: no model folder at {path!r}")
    return os.path.expanduser(path)


def _local_generator(path: str, device: str | None, option: str = "--model") -> Any:
    from langgraph_ttc.models import TransformersGenerator

    return TransformersGenerator(_check_local(path, option), device=device)


def _local_verifier(path: str, device: str | None) -> Any:
    from langgraph_ttc.verifiers import TransformersPRM

    return TransformersPRM(_check_local(path, "--verifier"), device=device)
