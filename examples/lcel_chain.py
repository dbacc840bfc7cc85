"""Test-time compute inside an LCEL chain: ``prompt | ChatTTC | StrOutputParser``.

``ChatTTC`` is a LangChain chat model whose every reply is a routed TTC run:
probes, a difficulty estimate, the compute-optimal strategy, verification
and selection. The chain's output is the best solution's text; the answer,
strategy, difficulty and compute ride along in the message's metadata.

Run it (bundled models, offline)::

    python examples/lcel_chain.py 17*3+25-4*6 12+7*3     # = 52 and 33
    python examples/lcel_chain.py --model PATH --verifier PATH 12+7*3

``ChatTTC()`` with no models runs the bundled ones, which answer only their
task (``+ - *`` expressions with 1 to 6 operations and operands 1 to 30): it
raises ``ValueError`` for any other question, and the batch below reports it
next to the others' answers (``return_exceptions=True``).
"""

from __future__ import annotations

import argparse
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

from langgraph_ttc.answers import extract_answer
from langgraph_ttc.chat import ChatTTC


def build_chain(model: ChatTTC) -> Runnable[dict[str, str], str]:
    """``prompt | model | StrOutputParser()``: an expression in, a worked solution out."""
    prompt = ChatPromptTemplate.from_messages([("human", "{expression}")])
    return prompt | model | StrOutputParser()


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Solve each expression with the chain; print and return the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("expressions", nargs="*", default=["17*3+25-4*6", "12+7*3"])
    parser.add_argument("--model", help="policy model folder (default: the bundled models)")
    parser.add_argument("--verifier", help="PRM folder (with --model)")
    parser.add_argument("--budget", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = {"budget": args.budget, "max_tokens": args.max_tokens, "seed": args.seed}
    if args.model is None:
        model = ChatTTC(**settings)  # the bundled models, loaded on first use
    else:
        from langgraph_ttc.models import TransformersGenerator
        from langgraph_ttc.verifiers import TransformersPRM

        verifier = TransformersPRM(args.verifier) if args.verifier else None
        model = ChatTTC(generator=TransformersGenerator(args.model), verifier=verifier, **settings)
    chain = build_chain(model)
    # batch() runs the questions concurrently, each as its own TTC run.
    solutions = chain.batch([{"expression": e} for e in args.expressions], return_exceptions=True)
    results: list[dict[str, Any]] = []
    for expression, solution in zip(args.expressions, solutions, strict=True):
        if isinstance(solution, Exception):
            # ValueError: a question the models cannot take; anything else is a fault.
            kind = "refused" if isinstance(solution, ValueError) else type(solution).__name__
            print(f"{expression} -> {kind}: {solution}")
            results.append({"expression": expression, "error": f"{kind}: {solution}"})
            continue
        answer = extract_answer(solution) if solution else None
        print(f"{expression} -> {answer}")
        print("  " + solution.replace("\n", "\n  "))
        results.append({"expression": expression, "solution": solution, "answer": answer})
    return results


if __name__ == "__main__":
    main()
