"""The ``ttc`` command.

    ttc solve "17*3+25-4*6"                       # bundled models, offline, routed
    ttc solve "12+7*3" --strategy beam --budget 32 --json
    ttc solve "..." --model ./my-model --verifier ./my-prm
    ttc solve "..." --endpoint http://localhost:8000/v1 --endpoint-model my-model
    ttc solve "2+3" "17*3+25-4*6" "9*8-7" --budget 16  # a batch: 48 generations in all
    ttc solve --file questions.txt --total 400 --json  # one question a line; JSON lines out

``solve`` runs the compute-optimal graph (``create_ttc_graph``): with
``--strategy auto`` the router estimates difficulty and picks the plan; any
other strategy is forced (``TTCContext.plan``) and spends the whole budget.
With no model option it runs the bundled models offline; they answer only
the bundled task (``+ - *`` expressions, 1 to 6 operations, operands 1 to
30; spaces ignored), so any other question is refused before a model loads
(exit code 2, one line naming the problem, what the bundled models answer,
and the options that bring your own model). With ``--model`` or
``--endpoint`` any question goes.

Output: the answer, the strategy, the difficulty bin and the compute used;
``--json`` prints one JSON object (``answer``, ``confidence``, ``strategy``,
``difficulty``, ``plan``, ``usage``, ``status``, ``error``, ``warnings``) instead. A
progress bar goes to stderr (by default only when stderr is a terminal).

Several questions (or ``--file``, one question a line, blank lines skipped)
run as one batch (``create_batch_graph``): one total budget, ``--total`` or
else ``--budget`` times the number of questions, spent where it pays (a
question predicted easy answers from its probes; the rest share what it
saved), never more in all. The output is one block per question (``[i]
question`` then the lines above) and a ``batch:`` summary line; with
``--json``, one JSON object a line per question, with its ``index``,
``question`` and ``budget`` added. A batch always routes (``--strategy
auto``); the bar counts questions done.

Exit codes: 0 when the run produced an answer (every question's, in a
batch); 1 when it did not (a backend
failure, or no candidate had an answer; the status says which); 2 for bad
input, including a model that cannot be loaded and a question outside the
bundled task on the bundled models (one line on stderr, no traceback; set
``TTC_DEBUG=1`` for the traceback).

Subcommands from elsewhere: each module in ``EXTENSION_MODULES`` that can be
imported and defines ``register(subparsers)`` adds its own subcommands (for
``ttc bench`` and ``ttc fit-policy``: ``langgraph_ttc/bench/cli.py``). A
subcommand sets its handler with ``parser.set_defaults(handler=fn)``; ``fn``
takes the parsed ``argparse.Namespace`` and returns the exit code. Handlers
may raise ``ValueError``/``TypeError``/``FileNotFoundError`` for bad input:
``main`` turns them into the one-line error and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn, TextIO

from langgraph_ttc.cli_models import UsageError, add_model_options
from langgraph_ttc.cli_models import build_models as _build_models
from langgraph_ttc.types import STRATEGIES, Budget, Usage

__all__ = ["EXTENSION_MODULES", "UsageError", "build_parser", "main", "render_result"]

EXTENSION_MODULES: tuple[str, ...] = (
    "langgraph_ttc.bench.cli",
    "langgraph_ttc.integrations.server.cli",  # ttc serve
)
"""Modules whose ``register(subparsers)`` adds subcommands, if they are importable."""

_STRATEGY_CHOICES = ("auto", *(s.replace("_", "-") for s in STRATEGIES))


class _Parser(argparse.ArgumentParser):
    unavailable: tuple[str, ...] = ()
    """Extensions skipped for a missing import; named when a command is unknown."""

    def error(self, message: str) -> NoReturn:
        # argparse would print the usage block and exit; we want one line.
        if "invalid choice" in message and self.unavailable:
            message += f"; unavailable subcommands: {'; '.join(self.unavailable)}"
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The ``ttc`` argument parser, with every registered subcommand.

    An extension that is absent is skipped; one whose own imports are missing
    (an optional extra such as ``langgraph-ttc[bench]``) is skipped too, and
    named in the parser's epilog and in the error for an unknown command, so
    ``ttc solve`` never depends on the extras.
    """
    unavailable: list[str] = []
    subcommands: list[tuple[str, Any]] = []
    for module_name in EXTENSION_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module_name.startswith(exc.name):
                unavailable.append(f"{module_name} (missing module {exc.name!r})")
            continue
        register = getattr(module, "register", None)
        if callable(register):
            subcommands.append((module_name, register))
    epilog = ("unavailable: " + "; ".join(unavailable)) if unavailable else None
    parser = _Parser(prog="ttc", description="Test-time compute for LangGraph.", epilog=epilog)
    parser.unavailable = tuple(unavailable)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_solve(subparsers)
    for _, register in subcommands:
        register(subparsers)
    return parser


def _add_solve(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "solve",
        help="answer questions with test-time compute",
        description="Answer one question, spending up to --budget generations; or several "
        "(or --file) as a batch sharing one total budget.",
    )
    p.add_argument(
        "questions",
        nargs="*",
        metavar="question",
        help="the question (the bundled models answer only + - * expressions with operands "
        "1 to 30 and 1 to 6 operations, such as 17*3+25-4*6); several make a batch",
    )
    p.add_argument(
        "--file",
        metavar="PATH",
        help="read questions from a file, one a line (blank lines skipped); runs a batch",
    )
    p.add_argument(
        "--total",
        type=_positive_int,
        help="a batch's total generations (default: --budget x the number of questions)",
    )
    p.add_argument(
        "--strategy",
        choices=_STRATEGY_CHOICES,
        default="auto",
        help="auto routes by difficulty (default); others force a strategy",
    )
    p.add_argument(
        "--budget",
        type=_positive_int,
        default=16,
        help="generations to spend (default 16; in a batch, the mean per question)",
    )
    add_model_options(p)
    p.add_argument("--policy", metavar="PATH", help="ComputePolicy JSON (default: the shipped one)")
    p.add_argument("--max-tokens", type=_positive_int, default=256, help="tokens per solution")
    p.add_argument("--seed", type=_int, default=0, help="base seed (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None)
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(handler=_solve)


# --------------------------------------------------------------------------- solve


_OWN_MODEL_HINT = (
    "to ask anything else, bring your own model: --model PATH_OR_ID "
    "(a local Hugging Face model), or --endpoint URL --endpoint-model NAME"
)


def _solve(args: argparse.Namespace) -> int:
    questions = _questions(args)
    if len(questions) > 1 or args.file is not None:
        return _solve_batch(args, questions)
    if args.total is not None:
        raise UsageError("--total is for several questions (or --file); use --budget")
    question = questions[0]
    if not question.strip():
        raise UsageError("question must be a non-empty string")
    if not (args.model or args.endpoint):
        # The bundled policy answers one grammar: refuse the rest before loading it.
        from langgraph_ttc.suite.task import check_question_in_task

        question = check_question_in_task(question, hint=_OWN_MODEL_HINT)
    strategy = args.strategy.replace("-", "_")
    from langgraph_ttc.router import ComputePolicy, default_plan
    from langgraph_ttc.state import TTCContext
    from langgraph_ttc.strategies.compute_optimal import create_ttc_graph

    policy = ComputePolicy.load(args.policy) if args.policy else None
    forced = None if strategy == "auto" else default_plan(strategy, args.budget)
    generator, verifier, reviser = _build_models(args)
    if forced is not None and forced.requirement_error(has_verifier=verifier is not None):
        raise UsageError(f"--strategy {args.strategy} needs a verifier: pass --verifier")
    graph = create_ttc_graph(generator, verifier=verifier, reviser=reviser, policy=policy).compile()
    context = TTCContext(
        seed=args.seed,
        budget=Budget(generations=args.budget),
        plan=forced,
        max_tokens=args.max_tokens,
    )
    show = sys.stderr.isatty() if args.progress is None else args.progress
    final = _run_with_progress(
        graph.stream(
            {"question": question},
            context=context,
            stream_mode=["custom", "values"],
            subgraphs=True,
            version="v2",
        ),
        total=args.budget,
        enabled=show,
    )
    sys.stdout.write(render_result(final, as_json=args.json) + "\n")
    return 0 if final.get("answer") is not None else 1


def _solve_batch(args: argparse.Namespace, questions: list[str]) -> int:
    """Several questions: one batch run (``create_batch_graph``) sharing one total budget."""
    from langgraph_ttc.strategies.batch_budget import check_questions

    if args.strategy != "auto":
        raise UsageError(
            "--strategy applies to one question; a batch routes each question by its "
            "predicted difficulty (leave --strategy at auto)"
        )
    try:
        questions = check_questions(questions)
    except ValueError as exc:  # name the question as the user counts: from 1
        raise UsageError(_from_one(str(exc))) from None
    if not (args.model or args.endpoint):
        from langgraph_ttc.suite.task import check_question_in_task

        for i, q in enumerate(questions):
            try:
                questions[i] = check_question_in_task(q, hint=_OWN_MODEL_HINT)
            except ValueError as exc:
                raise UsageError(f"question {i + 1}: {exc}") from None
    total = args.total if args.total is not None else args.budget * len(questions)
    if total < len(questions):
        raise UsageError(
            f"--total {total} is smaller than the number of questions ({len(questions)}): "
            "each question needs at least one generation"
        )
    from langgraph_ttc.router import ComputePolicy
    from langgraph_ttc.state import TTCContext
    from langgraph_ttc.strategies.batch_budget import create_batch_graph

    policy = ComputePolicy.load(args.policy) if args.policy else None
    generator, verifier, reviser = _build_models(args)
    graph = create_batch_graph(generator, verifier=verifier, reviser=reviser, policy=policy)
    context = TTCContext(
        seed=args.seed, budget=Budget(generations=total), max_tokens=args.max_tokens
    )
    show = sys.stderr.isatty() if args.progress is None else args.progress
    final = _drain_batch(
        graph.compile().stream(
            {"questions": questions}, context=context, stream_mode=["updates", "values"]
        ),
        total=len(questions),
        enabled=show,
    )
    results = final.get("results") or []
    lines = []
    for r in results:
        if args.json:
            one = json.loads(render_result(dict(r), as_json=True))
            lines.append(
                json.dumps(
                    {
                        "index": r["index"],
                        "question": r["question"],
                        **one,
                        "budget": r.get("budget"),
                    }
                )
            )
        else:
            lines.append(f"[{r['index'] + 1}] {r['question']}\n{render_result(dict(r))}\n")
    if not args.json:
        spent = (final.get("usage") or {}).get("generations", 0)
        lines.append(
            f"batch: {len(results)} questions, {spent:g} of {total} generations "
            f"(budgets {', '.join(str(b) for b in final.get('budgets') or [])})"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if results and all(r.get("answer") is not None for r in results) else 1


def _from_one(message: str) -> str:
    """``questions[1]: ...`` as ``question 2: ...``."""
    import re

    return re.sub(r"questions\[(\d+)\]", lambda m: f"question {int(m.group(1)) + 1}", message)


def _drain_batch(
    parts: Iterable[Any], *, total: int, enabled: bool, file: TextIO | None = None
) -> dict[str, Any]:
    """Drain a batch's ``stream(stream_mode=["updates", "values"])``: a bar over questions done."""
    from tqdm import tqdm

    final: dict[str, Any] = {}
    with tqdm(
        total=total, unit="q", file=file or sys.stderr, disable=not enabled, leave=False
    ) as bar:
        for mode, data in parts:
            if mode == "values":
                final = data
                continue
            for node, update in data.items():
                done = len((update or {}).get("results") or [])
                if done:
                    bar.update(done)
                    bar.set_description_str(str(node), refresh=True)
    return final


def _questions(args: argparse.Namespace) -> list[str]:
    """The questions from the command line and ``--file`` (unchecked)."""
    questions = list(args.questions)
    if args.file is not None:
        from pathlib import Path

        path = Path(args.file)
        if not path.is_file():
            raise UsageError(f"--file: no file at {args.file!r}")
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        read = [line for line in lines if line]
        if not read:
            raise UsageError(f"--file {args.file!r} holds no question")
        questions += read
    if not questions:
        raise UsageError("the following arguments are required: question (or --file)")
    return questions


def _run_with_progress(
    parts: Iterable[Any], *, total: int, enabled: bool, file: TextIO | None = None
) -> dict[str, Any]:
    """Drain a ``stream(..., subgraphs=True, version="v2")`` iterator, drawing a bar.

    The bar counts generations spent: the nodes' progress events carry the
    run's running total (``generations``), as does every state's ``usage``;
    an event's ``node`` names the step in progress. Returns the last root state.
    """
    from tqdm import tqdm

    final: dict[str, Any] = {}
    with tqdm(
        total=total, unit="gen", file=file or sys.stderr, disable=not enabled, leave=False
    ) as bar:
        for part in parts:
            data = part.get("data")
            if not isinstance(data, dict):
                continue
            custom = part.get("type") == "custom"
            if not custom and not part.get("ns"):
                final = data
            usage = data.get("usage")
            spent = data.get("generations") if custom else (usage or {}).get("generations")
            if isinstance(spent, int | float) and min(int(spent), total) > bar.n:
                bar.update(min(int(spent), total) - bar.n)
            if custom and data.get("node"):
                # Events are per node, a few per round: redrawing on each is cheap.
                bar.set_description_str(str(data["node"]), refresh=True)
    return final


def _fmt_usage(usage: Usage | dict[str, Any]) -> str:
    gens = usage.get("generations", 0)
    parts = [
        f"{gens:g} generations",
        f"{usage.get('generated_tokens', 0)} tokens generated",
    ]
    if usage.get("flops"):
        parts.append(f"{usage['flops']:.3g} FLOPs")
    if usage.get("verifier_calls"):
        parts.append(
            f"verifier: {usage['verifier_calls']} calls, {usage.get('verifier_tokens', 0)} tokens"
        )
    parts.append(f"{usage.get('wall_time_s', 0.0):.1f} s")
    return ", ".join(parts)


def render_result(result: dict[str, Any], *, as_json: bool = False) -> str:
    """Format a final TTC state for the terminal, or as one JSON object.

    Args:
        result: The graph's final state.
        as_json: One JSON object with ``answer``, ``confidence``, ``strategy``,
            ``difficulty``, ``plan``, ``usage``, ``status``, ``error`` and ``warnings``.
    """
    usage = result.get("usage") or {}
    if as_json:
        return json.dumps(
            {
                "answer": result.get("answer"),
                "confidence": result.get("confidence"),
                "strategy": result.get("strategy"),
                "difficulty": result.get("difficulty"),
                "plan": result.get("plan"),
                "usage": dict(usage),
                "status": result.get("status"),
                "error": result.get("error"),
                "warnings": list(result.get("warnings") or []),
            }
        )
    difficulty = result.get("difficulty")
    lines = [
        f"answer: {result.get('answer')}",
        f"strategy: {result.get('strategy')}"
        + (
            f" (difficulty bin {difficulty} of 5)"
            if difficulty is not None
            else " (difficulty not estimated)"
        ),
        f"compute: {_fmt_usage(usage)}",
        f"status: {result.get('status')}" + (f": {result['error']}" if result.get("error") else ""),
        *(f"warning: {w}" for w in result.get("warnings") or []),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ttc``; returns the exit code (the console script exits with it)."""
    from langgraph_ttc.models.errors import BackendError

    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help(sys.stderr)
            return 2
        return int(handler(args))
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except (UsageError, ValueError, TypeError, OSError) as exc:
        # OSError: a model that cannot be loaded (a wrong path or hub id, offline).
        if os.environ.get("TTC_DEBUG"):
            raise
        sys.stderr.write(f"ttc: error: {_one_line(exc)}\n")
        return 2
    except BackendError as exc:
        sys.stderr.write(f"ttc: backend error: {_one_line(exc)}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("ttc: interrupted\n")
        return 130


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    raise SystemExit(main())
