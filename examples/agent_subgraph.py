"""A LangGraph agent that hands arithmetic to a test-time-compute subgraph.

The agent keeps a chat (``messages``). A ``triage`` node looks at the last
user message: an arithmetic expression goes to ``solve``, which runs the
routed TTC graph (probe, estimate difficulty, pick a strategy, search,
verify, select) as a subgraph; anything else gets a short reply. The TTC
graph has its own state (``TTCState``), so ``solve`` maps the chat to a
question and the result back to an ``AIMessage``.

The bundled models answer only their task (``+ - *`` expressions with 1 to 6
operations and operands 1 to 30): built for them (``task_only=True``), the
agent declines any other expression with the reason instead of answering it.

Run it (bundled models, offline)::

    python examples/agent_subgraph.py "What is 17*3+25-4*6?"     # 17*3+25-4*6 = 52
    python examples/agent_subgraph.py --model PATH --verifier PATH "12+7*3"

The run settings travel in the agent's context (``TTCContext``), so the
caller sets the seed and budget per run.
"""

from __future__ import annotations

import argparse
import re
from typing import Any, Literal

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from langgraph_ttc.state import TTCContext
from langgraph_ttc.strategies.compute_optimal import create_ttc_graph
from langgraph_ttc.suite.task import check_question_in_task
from langgraph_ttc.types import Budget, Generator, Verifier

EXPRESSION = re.compile(r"\d+(?:\s*[-+*]\s*\d+)+")


def build_agent(
    generator: Generator,
    *,
    verifier: Verifier | None = None,
    reviser: Generator | None = None,
    task_only: bool = False,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The agent: ``triage`` then ``solve`` (the TTC subgraph) or ``reply``.

    Args:
        generator: The policy model.
        verifier: A verifier for the router and the searches.
        reviser: A revision model.
        task_only: Decline expressions outside the bundled task (set it when
            the models are the bundled ones, which answer nothing else).
    """
    ttc = create_ttc_graph(generator, verifier=verifier, reviser=reviser).compile(name="ttc")

    def triage(state: MessagesState) -> Command[Literal["solve", "reply"]]:
        last = state["messages"][-1]
        is_math = isinstance(last, HumanMessage) and EXPRESSION.search(last.text)
        return Command(goto="solve" if is_math else "reply")

    def solve(state: MessagesState, runtime: Runtime[TTCContext]) -> dict[str, Any]:
        match = EXPRESSION.search(state["messages"][-1].text)
        assert match is not None  # triage checked
        question = re.sub(r"\s+", "", match.group(0))
        if task_only:
            try:
                question = check_question_in_task(question, hint="ask me another one")
            except ValueError as exc:
                return {"messages": [AIMessage(f"I cannot work that out: {exc}.")]}
        # Invoked inside the node, the TTC graph is a subgraph: it streams and
        # traces under this node and shares the agent's checkpointer.
        out = ttc.invoke({"question": question}, context=runtime.context)
        answer = out.get("answer")
        text = (
            f"{question} = {answer}"
            if answer is not None
            else f"I could not work out {question} (status: {out.get('status')})."
        )
        meta = {
            k: out.get(k)
            for k in ("answer", "confidence", "strategy", "difficulty", "usage", "status")
        }
        return {"messages": [AIMessage(text, response_metadata=meta)]}

    def reply(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("I solve arithmetic: try something like 17*3+25-4*6.")]}

    builder = StateGraph(MessagesState, context_schema=TTCContext)
    builder.add_node("triage", triage, destinations=("solve", "reply"))
    builder.add_node("solve", solve)
    builder.add_node("reply", reply)
    builder.add_edge(START, "triage")
    builder.add_edge("solve", END)
    builder.add_edge("reply", END)
    return builder.compile(name="math_agent")


def load_models(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The bundled models, or the local folders named on the command line."""
    if args.model is None:
        from langgraph_ttc.defaults import load_bundled

        return load_bundled()
    from langgraph_ttc.models import TransformersGenerator
    from langgraph_ttc.verifiers import TransformersPRM

    verifier = TransformersPRM(args.verifier) if args.verifier else None
    return TransformersGenerator(args.model), verifier, None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Ask the agent one question; print and return its reply."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("message", nargs="?", default="What is 17*3+25-4*6?")
    parser.add_argument("--model", help="policy model folder (default: the bundled models)")
    parser.add_argument("--verifier", help="PRM folder (with --model)")
    parser.add_argument("--budget", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    generator, verifier, reviser = load_models(args)
    agent = build_agent(generator, verifier=verifier, reviser=reviser, task_only=args.model is None)
    context = TTCContext(
        seed=args.seed, budget=Budget(generations=args.budget), max_tokens=args.max_tokens
    )
    out = agent.invoke({"messages": [HumanMessage(args.message)]}, context=context)
    reply = out["messages"][-1]
    print(reply.text)
    if reply.response_metadata:
        meta = reply.response_metadata
        print(
            f"(strategy {meta['strategy']}, difficulty {meta['difficulty']}, "
            f"{meta['usage']['generations']:g} generations, status {meta['status']})"
        )
    return {"text": reply.text, **reply.response_metadata}


if __name__ == "__main__":
    main()
