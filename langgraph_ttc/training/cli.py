"""Train the bundled models, end to end, from one seeded command.

    python -m langgraph_ttc.training --out DIR [--scale full|quick|smoke] [--seed 0]

Stages, each written under ``DIR`` and skipped when its output is there
(so a killed run resumes):

1. ``data``: train questions with reference solutions;
2. ``policy-small`` and ``policy-large``: the same data, the same tokens;
3. ``rollouts``: Monte Carlo labels for the PRM (Math-Shepherd);
4. ``prm``: policy-small fine-tuned to score steps at the step tag;
5. ``revisions``: incorrect attempts in context, a correct target;
6. ``reviser``: policy-small fine-tuned on them;
7. ``metrics`` and model cards: see ``langgraph_ttc.training.metrics``.

CUDA is used when present; the CPU works too, slowly (``--scale quick`` is a
smoke run of every stage in a few minutes).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from langgraph_ttc.suite.task import DEFAULT_MAX_OPS, DEFAULT_OPERANDS
from langgraph_ttc.training.pipeline import Pipeline
from langgraph_ttc.training.scale import SCALES

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m langgraph_ttc.training --out DIR``.

    Args:
        argv: The arguments; ``sys.argv[1:]`` when ``None``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m langgraph_ttc.training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="output folder (resumes if it exists)"
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    parser.add_argument(
        "--only", nargs="*", default=None, help="run only these stages (and 'metrics')"
    )
    args = parser.parse_args(argv)
    cfg = {
        "scale": args.scale,
        "seed": args.seed,
        "ops": DEFAULT_MAX_OPS,
        "operands": DEFAULT_OPERANDS,
        **asdict(SCALES[args.scale]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    run = args.out / "run.json"
    if not (args.only and run.exists()):
        # A partial run (--only) adds to a folder: the run that made it stays on record.
        run.write_text(json.dumps(cfg, indent=2))
    Pipeline(args.out, scale=args.scale, seed=args.seed, device=args.device).run(args.only)


if __name__ == "__main__":
    main()
