"""The floor plan of docs/design.md, checked: floors, no loops, generic nodes, a light core."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "langgraph_ttc"

# Lower floors never import higher ones; units on one floor never import each other.
FLOORS: dict[str, float] = {
    "types": 0,
    "formats": 0,
    "models.errors": 0,
    "state": 0.5,
    "answers": 0.5,
    "budget": 0.5,
    # Backend plumbing that both adapters and verifiers use: coalescing concurrent
    # calls into shared batches, the torch thread rule, HTTP retries.
    "models.shared": 0.75,
    "models": 1,
    "verifiers": 1,
    "suite": 1,
    "engine": 2,
    "nodes": 3,
    "router": 3,
    "strategies": 4,
    "defaults": 4,
    "chat": 5,
    "cli_models": 4.5,  # the model options shared by ttc solve and ttc serve
    "cli": 5,
    "agents": 5,  # TTCMiddleware for langchain's create_agent
    "": 5,  # the package itself: it only re-exports, lazily
    "bench": 6,
    "training": 6,
    "integrations": 6,  # tools: the OpenAI-compatible server, LangSmith experiments
}
SHARED_MODELS = ("coalesce", "threads", "openai_faults")
"""The modules of ``models/`` on the shared-plumbing floor (``models.shared``)."""
# Tools may share the statistics: the training metrics use the bench's AUROC.
SIDEWAYS = {("training", "bench")}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Modules of the package that ``path`` imports (``from pkg import mod`` counts as mod)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("langgraph_ttc"):
            assert node.module is not None
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(
                    sub
                    if (PACKAGE.parent / sub.replace(".", "/")).exists()
                    or (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists()
                    else node.module
                )
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("langgraph_ttc"))
    return out


def _unit(module: str) -> str:
    """The floor-plan unit a module belongs to."""
    rest = module.removeprefix("langgraph_ttc").lstrip(".")
    if rest.startswith("models.errors"):
        return "models.errors"
    parts = rest.split(".")
    if parts[0] == "models" and len(parts) > 1 and parts[1] in SHARED_MODELS:
        return "models.shared"
    return rest.split(".")[0]


def _all_modules() -> dict[str, Path]:
    return {_module(p): p for p in PACKAGE.rglob("*.py")}


def test_no_module_imports_from_a_floor_above_its_own() -> None:
    wrong = []
    for module, path in _all_modules().items():
        src = _unit(module)
        for target in _imports(path, top_level_only=False):
            dst = _unit(target)
            if src == dst or (src, dst) in SIDEWAYS:
                continue
            if FLOORS[dst] >= FLOORS[src]:
                wrong.append(
                    f"{module} (floor {FLOORS[src]}) imports {target} (floor {FLOORS[dst]})"
                )
    assert not wrong, "\n".join(wrong)


def test_no_import_loops() -> None:
    modules = _all_modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        graph[module] = {t for t in _imports(path, top_level_only=True) if t in modules}
    state: dict[str, int] = {}
    loops: list[str] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own modules
            if state.get(nxt) == 1:
                loops.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    assert not loops, "\n".join(loops)


def test_no_node_module_names_a_strategy() -> None:
    names = ("greedy", "best_of_n", "beam", "lookahead", "dvts", "revise")
    found = []
    for path in (PACKAGE / "nodes").glob("*.py"):
        text = path.read_text()
        # A node may name itself (the ``revise`` node), never a strategy.
        found += [f"{path.name}: {n!r}" for n in names if f'"{n}"' in text and n != path.stem]
        if ".strategy ==" in text or ".strategy in" in text:
            found.append(f"{path.name}: branches on plan.strategy")
    assert not found, found


def test_no_file_in_the_package_over_500_lines() -> None:
    long = {
        p.name: n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500
    }
    assert not long, long


LIGHT_RUN = textwrap.dedent(
    """
    import json, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from langgraph_ttc import TTCContext, create_beam_search_graph, create_best_of_n_graph
    from langgraph_ttc.models import OpenAIGenerator
    from langgraph_ttc.suite.task import check, reference_solution
    from langgraph_ttc.types import StrategyConfig
    from langgraph_ttc.verifiers import FunctionVerifier

    class Handler(BaseHTTPRequestHandler):
        # A scripted chat endpoint: the reference solution, one line at a time
        # under stop="\\n"; every other sample gets the last step wrong.
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            msgs = body["messages"]
            prefix = msgs[-1]["content"] if msgs[-1]["role"] == "assistant" else ""
            lines = reference_solution(msgs[0]["content"]).split("\\n")
            choices = []
            for i in range(body.get("n", 1)):
                rest = lines[len(prefix.splitlines()):]
                if i % 2 and len(rest) == 1:
                    rest = ["#### 999"]
                text = rest[0] if "\\n" in (body.get("stop") or []) else "\\n".join(rest)
                choices.append({"index": i, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": text}})
            out = json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                              "model": "m", "choices": choices,
                              "usage": {"prompt_tokens": 9, "completion_tokens": 5,
                                        "total_tokens": 14}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    gen = OpenAIGenerator("m", base_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
                          api_key="k", supports_n=True)
    checker = FunctionVerifier(lambda q, s: check(s, q), name="checker")
    question = "2+3*4-5"
    for graph in (
        create_best_of_n_graph(gen, verifier=checker, config=StrategyConfig(n=4)),
        create_beam_search_graph(
            gen, verifier=checker, config=StrategyConfig("beam", n=4, beam_width=2)
        ),
    ):
        out = graph.compile().invoke({"question": question}, context=TTCContext(seed=0))
        assert out["status"] == "done" and check(out["answer"], question), out
    server.shutdown()
    print(json.dumps({m: m in sys.modules for m in ("torch", "transformers")}))
    """
)


def test_remote_graphs_import_neither_torch_nor_transformers() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LIGHT_RUN], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == '{"torch": false, "transformers": false}'
