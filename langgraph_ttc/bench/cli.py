"""``ttc bench`` and ``ttc fit-policy``: registered into the ``ttc`` command.

    ttc bench --preset reduced --out bench-out          # the bundled suite, resumable
    ttc bench --data my.jsonl --checker mymod:check --model M --verifier PRM --out out
    ttc bench --out bench-out --report-only             # redraw the report from the cache
    ttc fit-policy --out bench-out --write policy.json  # refit the router's policy
    ttc bench --preset full --concurrency 8 --out bench-full       # 8 graph runs in flight
    ttc bench --endpoint http://127.0.0.1:8000/v1 --endpoint-model M --concurrency 32 ...

Everything is cached in ``<out>/cache.sqlite``; a killed run started again
with the same command continues where it stopped. ``<out>`` receives
``results.json`` (every number), ``report.md``, the PNG plots and the fitted
``policy.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def register(subparsers: Any) -> None:
    """Add ``bench`` and ``fit-policy`` to the ``ttc`` command."""
    p = subparsers.add_parser(
        "bench",
        help="benchmark every strategy and the router; fit the compute-optimal policy",
        description="Sweep strategies x budgets x seeds on the bundled suite (or your JSONL), "
        "fit the router's policy on the validation split, run the router on the test split, "
        "and write results.json, report.md and plots. Cached and resumable.",
    )
    p.add_argument("--preset", choices=("smoke", "reduced", "full"), default="reduced")
    p.add_argument("--out", type=Path, default=Path("bench-out"), help="output and cache folder")
    p.add_argument("--questions", type=_positive, help="questions per split (suite)")
    p.add_argument(
        "--budgets", type=_int_list, help="budgets of the voting/revision arms, e.g. 1,2,4,8"
    )
    p.add_argument("--tree-budgets", type=_int_list, help="budgets of the tree searches")
    p.add_argument("--router-budgets", type=_int_list, help="budgets the router runs at")
    p.add_argument("--seeds", type=_positive, help="subsets per budget for the pool arms")
    p.add_argument("--graph-seeds", type=_positive, help="runs per budget for graph arms/router")
    p.add_argument("--pool-size", type=_positive, help="samples per question in the pool")
    p.add_argument("--revision-chains", type=_positive)
    p.add_argument("--revision-length", type=_positive)
    p.add_argument("--arms", type=_names, help="comma-separated arm names (default: all)")
    p.add_argument("--max-tokens", type=_positive, help="token cap per solution (default 256)")
    p.add_argument("--no-router", action="store_true", help="skip the router runs")
    p.add_argument("--no-large", action="store_true", help="skip the reference model")
    p.add_argument("--data", type=Path, metavar="FILE.jsonl", help="your questions and answers")
    p.add_argument(
        "--checker", metavar="MODULE:FUNCTION", help="checker(answer, reference) -> bool"
    )
    p.add_argument("--model", metavar="PATH", help="policy model (default: bundled policy-small)")
    p.add_argument(
        "--verifier",
        metavar="PATH",
        help="a step-tag PRM folder (default: the bundled verifier, policy-large's likelihood)",
    )
    p.add_argument("--reviser", metavar="PATH", help="revision model (default: bundled reviser)")
    p.add_argument(
        "--large", metavar="PATH", help="reference model (default: bundled policy-large)"
    )
    p.add_argument(
        "--policy", type=Path, metavar="PATH", help="run the router with this policy (no fit)"
    )
    p.add_argument(
        "--endpoint",
        metavar="URL",
        help="sample from an OpenAI-compatible endpoint (…/v1) instead of a local policy",
    )
    p.add_argument("--endpoint-model", metavar="NAME", help="the model name the endpoint serves")
    p.add_argument("--api-key", metavar="KEY", help="endpoint key (default: $OPENAI_API_KEY)")
    p.add_argument(
        "--endpoint-concurrency",
        type=_positive,
        default=8,
        help="requests in flight to the endpoint, across all graph runs (default 8)",
    )
    p.add_argument(
        "--endpoint-params",
        type=_positive,
        metavar="N",
        help="the endpoint model's parameter count (for FLOPs; unknown by default)",
    )
    p.add_argument(
        "--concurrency",
        type=_positive,
        default=1,
        help="graph runs in flight at once (greedy, tree search, router, reference); results "
        "do not depend on it (default 1)",
    )
    p.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    p.add_argument(
        "--threads",
        type=_positive,
        default=1,
        help="torch CPU threads (default 1: faster on a loaded 2-core machine)",
    )
    p.add_argument(
        "--report-only", action="store_true", help="only redraw the report from the cache"
    )
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None)
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(handler=_bench)

    f = subparsers.add_parser(
        "fit-policy",
        help="fit a ComputePolicy from a bench cache (2-fold CV per bin)",
        description="Choose, per predicted-difficulty bin and budget, the arm with the best "
        "accuracy on the fit split of a `ttc bench` cache (probe cost counted), report its "
        "two-fold cross-validated accuracy, and write the ComputePolicy JSON.",
    )
    f.add_argument("--out", type=Path, default=Path("bench-out"), help="the bench output folder")
    f.add_argument("--split", help="split to fit on (default: the sweep's fit split)")
    f.add_argument(
        "--write", type=Path, metavar="PATH", help="policy JSON (default: <out>/policy.json)"
    )
    f.set_defaults(handler=_fit)


# --------------------------------------------------------------------------- helpers


def _weights_id(path: Path) -> str:
    """A short hash of a model folder's weights (so a retrained model invalidates the cache)."""
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
    if not files:
        return str(path)
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _config(args: argparse.Namespace) -> Any:
    from langgraph_ttc.bench.sweep import SweepConfig

    overrides: dict[str, Any] = {}
    for name in (
        "questions",
        "budgets",
        "tree_budgets",
        "router_budgets",
        "seeds",
        "graph_seeds",
        "pool_size",
        "revision_chains",
        "revision_length",
        "arms",
        "max_tokens",
    ):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    if args.no_router:
        overrides["router"] = False
    if args.no_large:
        overrides["large"] = False
    if args.data is not None:
        overrides.update(splits=("data",), fit_split=None, eval_split="data")
    config = SweepConfig.preset(args.preset, **overrides)
    if overrides:
        from dataclasses import replace

        config = replace(config, name=f"{args.preset} (customised)")
    return config


def _items(args: argparse.Namespace, config: Any) -> dict[str, list[Any]]:
    from langgraph_ttc.bench.data import load_jsonl, suite_items

    if args.data is not None:
        return {"data": load_jsonl(args.data)}
    return {s: suite_items(s, config.questions, seed=config.data_seed) for s in config.splits}


def _models(args: argparse.Namespace, config: Any) -> tuple[Any, dict[str, Any]]:
    import torch
    from transformers.utils import logging as hf_logging

    from langgraph_ttc.bench.pools import BenchModels
    from langgraph_ttc.defaults import bundled_verifier
    from langgraph_ttc.models import TransformersGenerator
    from langgraph_ttc.suite.modeling import bundled_model_path
    from langgraph_ttc.verifiers import TransformersPRM

    hf_logging.disable_progress_bar()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        torch.set_num_threads(args.threads)
    if args.endpoint is not None:
        return _endpoint_models(args, config, device)
    if args.endpoint_model or args.api_key or args.endpoint_params:
        raise ValueError("--endpoint-model, --api-key and --endpoint-params need --endpoint")
    if (args.model is None) != (args.verifier is None):
        raise ValueError(
            "--model and --verifier go together (or leave both out for the bundled models)"
        )
    paths: dict[str, Path | None] = {}
    if args.model is None:
        paths["generator"] = bundled_model_path("policy-small")
        # The bundled default verifier: policy-large's step likelihood.
        paths["verifier"] = bundled_model_path("policy-large")
        paths["reviser"] = Path(args.reviser) if args.reviser else bundled_model_path("reviser")
    else:
        paths["generator"] = Path(args.model)
        paths["verifier"] = Path(args.verifier)
        paths["reviser"] = Path(args.reviser) if args.reviser else None
    if args.large:
        paths["large"] = Path(args.large)
    elif args.model is None and config.large:
        try:
            paths["large"] = bundled_model_path("policy-large")
        except FileNotFoundError:
            paths["large"] = None
    else:
        paths["large"] = None
    for role, path in paths.items():
        if path is not None and not path.exists() and str(path).startswith(("/", ".", "~")):
            raise FileNotFoundError(f"--{role}: no model at {str(path)!r}")

    def gen(role: str) -> Any:
        path = paths[role]
        return (
            None
            if path is None
            else TransformersGenerator(str(path), device=device, name=path.name)
        )

    verifier_path = paths["verifier"]
    assert verifier_path is not None
    verifier = (
        bundled_verifier(device)
        if args.model is None
        else TransformersPRM(str(verifier_path), device=device, name=verifier_path.name)
    )
    models = BenchModels(
        generator=gen("generator"),
        verifier=verifier,
        reviser=gen("reviser"),
        large=gen("large") if config.large else None,
    )
    fingerprint: dict[str, Any] = {
        role: (None if path is None else {"name": path.name, "weights": _weights_id(path)})
        for role, path in paths.items()
    }
    fingerprint["checker"] = args.checker or "answers_equal"
    return models, fingerprint


def _endpoint_models(args: argparse.Namespace, config: Any, device: str) -> tuple[Any, Any]:
    """The policy at an OpenAI-compatible endpoint; verifier, reviser and reference local."""
    import os

    from langgraph_ttc.bench.pools import BenchModels
    from langgraph_ttc.defaults import bundled_verifier
    from langgraph_ttc.models import OpenAIGenerator, TransformersGenerator
    from langgraph_ttc.verifiers import TransformersPRM

    if args.model is not None:
        raise ValueError("--model and --endpoint are exclusive: one policy model per sweep")
    if not args.endpoint_model:
        raise ValueError("--endpoint needs --endpoint-model (the model name the server serves)")
    generator = OpenAIGenerator(
        args.endpoint_model,
        base_url=args.endpoint,
        api_key=args.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
        # The adapter's cap holds across every graph run of the sweep's event loop.
        max_concurrency=args.endpoint_concurrency,
        params=args.endpoint_params,
    )
    local: dict[str, Path | None] = {
        role: None if getattr(args, role) is None else Path(getattr(args, role))
        for role in ("verifier", "reviser", "large")
    }
    for role, path in local.items():
        if path is not None and not path.exists() and str(path).startswith(("/", ".", "~")):
            raise FileNotFoundError(f"--{role}: no model at {str(path)!r}")
    verifier_path = local["verifier"]
    verifier = (
        bundled_verifier(device)
        if verifier_path is None
        else TransformersPRM(str(verifier_path), device=device, name=verifier_path.name)
    )

    def gen(path: Path | None) -> Any:
        return None if path is None else TransformersGenerator(str(path), device=device)

    models = BenchModels(
        generator=generator,
        verifier=verifier,
        reviser=gen(local["reviser"]),
        large=gen(local["large"]) if config.large else None,
    )
    fingerprint: dict[str, Any] = {
        "generator": {"endpoint": generator.base_url, "model": args.endpoint_model},
        "verifier": "bundled" if verifier_path is None else _model_id(verifier_path),
        "reviser": None if local["reviser"] is None else _model_id(local["reviser"]),
        "large": None if local["large"] is None else _model_id(local["large"]),
        "checker": args.checker or "answers_equal",
    }
    return models, fingerprint


def _model_id(path: Path) -> dict[str, str]:
    return {"name": path.name, "weights": _weights_id(path)}


def _cache(out: Path) -> Any:
    from langgraph_ttc.bench.cache import BenchCache

    return BenchCache(out / "cache.sqlite")


def _items_from_meta(cache: Any) -> dict[str, list[Any]]:
    from langgraph_ttc.bench.data import BenchItem

    raw = cache.get_meta("items")
    if not raw:
        raise ValueError(f"{cache.path} holds no sweep; run `ttc bench` first")
    return {s: [BenchItem(**i) for i in v] for s, v in raw.items()}


def _config_from_meta(cache: Any) -> Any:
    from langgraph_ttc.bench.sweep import SweepConfig

    raw = cache.get_meta("config")
    if not raw:
        raise ValueError(f"{cache.path} holds no sweep; run `ttc bench` first")
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    return SweepConfig(**fields)


def _write_outputs(out: Path, cache: Any, config: Any, items: Any, policy: Any, fit: Any) -> Path:
    from langgraph_ttc.bench.analysis import analyse
    from langgraph_ttc.bench.report import write_json, write_report

    analysis = analyse(cache, config, items, policy=policy, policy_fit=fit)
    write_json(analysis, out / "results.json")
    try:
        from langgraph_ttc.bench.plots import write_plots

        plots = write_plots(analysis, out / "plots")
        names = [f"plots/{n}" for n in plots]
    except ImportError:
        sys.stderr.write(
            "ttc bench: matplotlib is missing, plots skipped (pip install 'langgraph-ttc[bench]')\n"
        )
        names = []
    return write_report(analysis, out, plots=names)


# --------------------------------------------------------------------------- handlers


def _bench(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from langgraph_ttc.bench.data import default_checker, load_checker
    from langgraph_ttc.bench.runner import SweepRunner
    from langgraph_ttc.router.policy import ComputePolicy

    out: Path = args.out
    if args.checker and args.data is None:
        raise ValueError("--checker applies to --data (the bundled suite has its own answers)")
    if args.report_only:
        with _cache(out) as cache:
            config = _config_from_meta(cache)
            items = _items_from_meta(cache)
            policy, fit = _stored_policy(cache, config, items, args.policy)
            report = _write_outputs(out, cache, config, items, policy, fit)
        sys.stdout.write(f"report: {report}\n")
        return 0
    config = _config(args)
    items = _items(args, config)
    checker = load_checker(args.checker) if args.checker else default_checker
    policy = ComputePolicy.load(args.policy) if args.policy else None
    models, fingerprint = _models(args, config)
    out.mkdir(parents=True, exist_ok=True)
    with _cache(out) as cache:
        cache.check_fingerprint(fingerprint)
        cache.set_meta("config", config.to_dict())
        cache.set_meta("items", {s: [asdict(i) for i in v] for s, v in items.items()})
        show = sys.stderr.isatty() if args.progress is None else args.progress
        runner = SweepRunner(
            config,
            models,
            cache,
            items,
            checker=checker,
            policy=policy,
            progress=show,
            policy_out=out / "policy.json",
            concurrency=args.concurrency,
        )
        summary = runner.run()
        report = _write_outputs(out, cache, config, items, summary.policy, summary.policy_fit)
    total = summary.wall_s.get("total", 0.0)
    done = sum(summary.computed.values())
    sys.stdout.write(
        f"ttc bench: {done} units computed, {sum(summary.cached.values())} cached, "
        f"{total:.0f} s; report: {report}\n"
    )
    return 0


def _stored_policy(cache: Any, config: Any, items: Any, given: Path | None) -> tuple[Any, Any]:
    """The policy whose router runs the report shows, and its fit when it is the cache's fit.

    The router the sweep ran (``ROUTER_META_KEY``) is reported even when a refit
    of the same cache would now choose otherwise (a newer fitting rule): its
    runs are in the cache, a new policy's are not.
    """
    from langgraph_ttc.bench.arms import ROUTER_META_KEY, policy_meta_key, router_arm
    from langgraph_ttc.bench.fit import fit_router_policy
    from langgraph_ttc.router.policy import ComputePolicy

    if given is not None:
        return ComputePolicy.load(given), None
    if not config.router:
        return None, None
    ran = cache.get_meta(ROUTER_META_KEY)
    stored = cache.get_meta(policy_meta_key(ran)) if ran else None
    if config.fit_split is None:
        return (ComputePolicy.from_dict(stored) if stored else ComputePolicy.default()), None
    fit = fit_router_policy(cache, config, items[config.fit_split])
    if stored and router_arm(fit.policy) != ran:
        return ComputePolicy.from_dict(stored), None
    return fit.policy, fit


def _fit(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from langgraph_ttc.bench.arms import choice_name
    from langgraph_ttc.bench.fit import fit_router_policy

    with _cache(args.out) as cache:
        config = _config_from_meta(cache)
        items = _items_from_meta(cache)
        split = args.split or config.fit_split or config.eval_split
        if split not in items:
            raise ValueError(f"--split {split!r} is not in the cache (it holds {sorted(items)})")
        config = replace(config, fit_split=split)
        fit = fit_router_policy(cache, config, items[split])
    path = args.write or args.out / "policy.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fit.policy.save(path)
    lines = [
        f"fitted on {split} ({len(items[split])} questions), probe cost counted; 2-fold CV per bin:"
    ]
    lines.append("budget  cv_accuracy  cv_generations  one_arm  probes  choices per bin 1..5")
    for key in sorted(fit.cv_overall):
        choices = " | ".join(
            choice_name(fit.choices[b][key].arm, fit.choices[b][key].budget) for b in range(1, 6)
        )
        pooled = "yes" if fit.pooled.get(key) else "no"
        probes = "none" if fit.unprobed.get(key) else "yes" if key in fit.unprobed else "-"
        lines.append(
            f"{key:>6}  {fit.cv_overall[key]:>11.3f}  {fit.cv_cost[key]:>14.1f}  {pooled:>7}  "
            f"{probes:>6}  {choices}"
        )
    lines.append(f"policy: {path}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
