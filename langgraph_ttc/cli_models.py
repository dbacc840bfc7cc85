"""The model options of ``ttc solve`` and ``ttc serve``, and the models they build.

``add_model_options`` adds ``--model``, ``--verifier``, ``--reviser``,
``--endpoint`` and their settings to a parser (``add_endpoint_options`` the
endpoint's own: mode, tokenizer, parameter count, sampling fields);
``build_models`` turns the parsed options into ``(generator, verifier,
reviser)``: the bundled models when no model option is given, a local Hugging
Face model, or an OpenAI-compatible endpoint.

Against llama.cpp (or llama-cpp-python) step-level strategies need
``--endpoint-mode completions --endpoint-tokenizer PATH``: its chat endpoint
cannot continue a partial answer.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Literal

__all__ = ["UsageError", "add_endpoint_options", "add_model_options", "build_models"]


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit code 2."""


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that choose the policy, verifier and reviser models."""
    parser.add_argument("--model", metavar="PATH_OR_ID", help="local Hugging Face policy model")
    parser.add_argument(
        "--verifier",
        metavar="PATH_OR_ID",
        help="local process reward model (the bundled PRM, Math-Shepherd, RLHFlow, "
        "Qwen2.5-Math-PRM or Skywork-o1-PRM; the format is recognised)",
    )
    parser.add_argument("--reviser", metavar="PATH_OR_ID", help="local revision model")
    parser.add_argument("--endpoint", metavar="URL", help="OpenAI-compatible base URL (…/v1)")
    parser.add_argument("--api-key", metavar="KEY", help="endpoint key (default: $OPENAI_API_KEY)")
    parser.add_argument("--endpoint-model", metavar="NAME", help="model name at the endpoint")
    parser.add_argument("--device", help="torch device for local models (default: cuda if present)")
    add_endpoint_options(parser)


def add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    """Add the settings of an ``--endpoint`` policy: mode, tokenizer, FLOPs, sampling."""
    parser.add_argument(
        "--endpoint-mode",
        choices=("chat", "completions"),
        default="chat",
        help="chat (/chat/completions) or completions (/completions: the prompt is rendered "
        "here with --endpoint-tokenizer's chat template; needed for step-level search on "
        "servers that cannot continue a chat answer, e.g. llama.cpp)",
    )
    parser.add_argument(
        "--endpoint-tokenizer",
        metavar="PATH_OR_ID",
        help="the served model's tokenizer (renders prompts in completions mode, counts tokens)",
    )
    parser.add_argument(
        "--endpoint-params",
        metavar="N",
        type=_count,
        help="the served model's parameter count (e.g. 7e9), for usage.flops",
    )
    parser.add_argument(
        "--endpoint-sampling",
        choices=("auto", "neutral", "server"),
        default="auto",
        help="neutral: send top_k/min_p/repetition penalty switched off (unless set below); "
        "server: leave them to the server; auto: neutral except to api.openai.com",
    )
    parser.add_argument("--endpoint-top-k", metavar="K", type=int, help="top-k to send")
    parser.add_argument("--endpoint-min-p", metavar="P", type=float, help="min-p to send")
    parser.add_argument(
        "--endpoint-repetition-penalty", metavar="R", type=float, help="repetition penalty to send"
    )


def _count(text: str) -> int:
    """A positive count, written as an int or in float notation (``7e9``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return int(value)


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
    if not args.endpoint and _endpoint_settings(args):
        raise UsageError(f"{', '.join(_endpoint_settings(args))} need --endpoint")
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
        generator = _endpoint_generator(args)
    else:
        generator = _local_generator(args.model, args.device)
    verifier = _local_verifier(args.verifier, args.device) if args.verifier else None
    reviser = _local_generator(args.reviser, args.device, "--reviser") if args.reviser else None
    return generator, verifier, reviser


def _endpoint_settings(args: argparse.Namespace) -> list[str]:
    """The endpoint settings given (other than their defaults), as options."""
    defaults = {"endpoint_mode": "chat", "endpoint_sampling": "auto"}
    names = (
        "endpoint_mode",
        "endpoint_tokenizer",
        "endpoint_params",
        "endpoint_sampling",
        "endpoint_top_k",
        "endpoint_min_p",
        "endpoint_repetition_penalty",
    )
    return [
        "--" + name.replace("_", "-")
        for name in names
        if getattr(args, name, None) not in (None, defaults.get(name))
    ]


def _endpoint_generator(args: argparse.Namespace) -> Any:
    """The ``OpenAIGenerator`` for ``--endpoint`` and its settings.

    Options a parser did not add (``ttc serve`` builds its own) take their defaults.
    """
    from langgraph_ttc.models import OpenAIGenerator

    mode: Literal["chat", "completions"] = (
        "completions" if getattr(args, "endpoint_mode", None) == "completions" else "chat"
    )
    tokenizer = getattr(args, "endpoint_tokenizer", None)
    if mode == "completions" and not tokenizer:
        raise UsageError(
            "--endpoint-mode completions needs --endpoint-tokenizer PATH_OR_ID: the served "
            "model's tokenizer, whose chat template renders the prompts"
        )
    sampling = getattr(args, "endpoint_sampling", None) or "auto"
    api_key = args.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
    return OpenAIGenerator(
        args.endpoint_model,
        base_url=args.endpoint,
        api_key=api_key,
        mode=mode,
        tokenizer=_check_local(tokenizer, "--endpoint-tokenizer") if tokenizer else None,
        params=getattr(args, "endpoint_params", None),
        neutral_sampling={"auto": None, "neutral": True, "server": False}[sampling],
        top_k=getattr(args, "endpoint_top_k", None),
        min_p=getattr(args, "endpoint_min_p", None),
        repetition_penalty=getattr(args, "endpoint_repetition_penalty", None),
    )


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
    # load_prm recognises the format: the bundled PRM, Math-Shepherd, RLHFlow,
    # Qwen2.5-Math-PRM, Skywork (a folder of another kind is a ValueError naming them).
    from langgraph_ttc.verifiers import load_prm

    return load_prm(_check_local(path, "--verifier"), device=device)
