"""``ttc serve``: the OpenAI-compatible TTC server, registered into the ``ttc`` command.

    ttc serve                                    # bundled models, 127.0.0.1:8000, no key
    ttc serve --host 0.0.0.0 --api-key "$KEY"    # beyond loopback: a key is required
    ttc serve --model ./my-model --verifier ./my-prm --max-budget 32
    ttc serve --endpoint http://localhost:8001/v1 --endpoint-model my-model

The model options are ``ttc solve``'s (``--model``, ``--verifier``,
``--reviser``, ``--endpoint``, ``--endpoint-model``, ``--device``,
``--policy``); the upstream endpoint's key is ``--endpoint-api-key`` (default
``$OPENAI_API_KEY``), since ``--api-key`` here is the key clients must send
(default ``$TTC_API_KEY``). Importing this module imports neither FastAPI nor
uvicorn: a missing ``[serve]`` extra is named when ``ttc serve`` runs.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from langgraph_ttc.cli_models import add_endpoint_options

__all__ = ["register", "serve"]

API_KEY_ENV = "TTC_API_KEY"
"""The environment variable ``ttc serve`` reads the server's API key from."""


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def register(subparsers: Any) -> None:
    """Add ``ttc serve`` to the ``ttc`` command's subparsers."""
    from langgraph_ttc.integrations.server.settings import ServerSettings

    d = ServerSettings()
    p = subparsers.add_parser(
        "serve",
        help="serve test-time compute behind an OpenAI-compatible API",
        description="An OpenAI-compatible chat-completions server that answers with test-time "
        "compute. Ask for model ttc (routed), ttc-<strategy> or ttc-<strategy>-<budget>.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"the key clients must send (default: ${API_KEY_ENV}); required beyond loopback",
    )
    p.add_argument("--model", metavar="PATH_OR_ID", help="local Hugging Face policy model")
    p.add_argument("--verifier", metavar="PATH_OR_ID", help="local process reward model")
    p.add_argument("--reviser", metavar="PATH_OR_ID", help="local revision model")
    p.add_argument("--endpoint", metavar="URL", help="upstream OpenAI-compatible base URL (…/v1)")
    p.add_argument("--endpoint-model", metavar="NAME", help="model name at the endpoint")
    p.add_argument(
        "--endpoint-api-key", metavar="KEY", help="upstream key (default: $OPENAI_API_KEY)"
    )
    add_endpoint_options(p)
    p.add_argument("--policy", metavar="PATH", help="ComputePolicy JSON (default: the shipped one)")
    p.add_argument("--device", help="torch device for local models (default: cuda if present)")
    p.add_argument("--threads", type=_positive(int), help="torch CPU threads (default: torch's)")
    caps = (
        ("--default-budget", int, d.default_budget, "generations when a request names none"),
        ("--max-budget", int, d.max_budget, "most generations a request may ask for (400 past)"),
        ("--max-tokens", int, d.max_tokens, "most tokens per solution a request may ask for"),
        ("--max-question-chars", int, d.max_question_chars, "longest question (413 past)"),
        ("--max-run-seconds", float, d.max_run_s, "time limit of a run (and its cap)"),
        ("--max-concurrent", int, d.max_concurrent, "runs at once (429 past)"),
    )
    for flag, kind, default, what in caps:
        p.add_argument(flag, type=_positive(kind), default=default, help=f"{what} ({default:g})")
    p.add_argument("--no-warm-up", dest="warm_up", action="store_false", help="skip the warm-up")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(handler=serve)


def serve(args: argparse.Namespace) -> int:
    """Build the models and the app, then serve until interrupted; returns the exit code.

    Raises:
        ValueError: For bad options, a non-loopback host without a key, or a
            missing ``[serve]`` extra (``ttc`` prints one line, exit code 2).
    """
    from langgraph_ttc.integrations.server.settings import ServerSettings, is_loopback

    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    if not is_loopback(args.host) and not api_key:
        raise ValueError(
            f"refusing to listen on {args.host} without an API key: pass --api-key KEY "
            f"(or set ${API_KEY_ENV}), or listen on 127.0.0.1"
        )
    try:
        import uvicorn

        from langgraph_ttc.integrations.server.app import create_app
    except ModuleNotFoundError as exc:
        raise ValueError(
            f"ttc serve needs the [serve] extra (missing {exc.name!r}): "
            "pip install 'langgraph-ttc[serve]'"
        ) from None
    from langgraph_ttc.cli_models import build_models as _build_models
    from langgraph_ttc.integrations.server.logs import log_config
    from langgraph_ttc.router import ComputePolicy

    settings = ServerSettings(
        api_key=api_key,
        default_budget=args.default_budget,
        max_budget=args.max_budget,
        max_tokens=args.max_tokens,
        default_max_tokens=min(ServerSettings.default_max_tokens, args.max_tokens),
        max_question_chars=args.max_question_chars,
        max_run_s=args.max_run_seconds,
        max_concurrent=args.max_concurrent,
    )
    upstream_key = args.endpoint_api_key or os.environ.get("OPENAI_API_KEY")
    model_args = argparse.Namespace(
        model=args.model,
        verifier=args.verifier,
        reviser=args.reviser,
        endpoint=args.endpoint,
        endpoint_model=args.endpoint_model,
        api_key=args.endpoint_api_key,
        device=args.device,
        # --endpoint-mode, --endpoint-tokenizer, --endpoint-params and the sampling fields.
        **{
            k: v
            for k, v in vars(args).items()
            if k.startswith("endpoint_") and k not in ("endpoint_model", "endpoint_api_key")
        },
    )
    if args.threads and (not args.endpoint or args.verifier or args.reviser):
        import torch

        torch.set_num_threads(args.threads)
    own = bool(args.model or args.endpoint)
    generator, verifier, reviser = _build_models(model_args)
    app = create_app(
        generator if own else None,
        verifier=verifier if own or args.verifier else None,
        reviser=reviser if own or args.reviser else None,
        policy=ComputePolicy.load(args.policy) if args.policy else None,
        settings=settings,
        secrets=tuple(s for s in (upstream_key,) if s),
        warm_up=args.warm_up and not args.endpoint,
        device=args.device,
    )
    logging.captureWarnings(True)  # warnings go through the redacting log config too
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=log_config(args.log_level),
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    return 0
