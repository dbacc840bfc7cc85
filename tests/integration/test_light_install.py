"""``pip install langgraph-ttc`` without extras: a fresh venv, no torch, a graph that runs.

The core install brings the graphs, the OpenAI-compatible and chat-model
backends and the judge and function verifiers; ``[local]`` brings torch and
transformers. The test builds a fresh virtual environment, installs the
checkout without extras (its dependencies come from the package index, so
this proves they suffice), and checks there that torch and transformers are
absent, that best-of-N and beam search run on a scripted OpenAI-style server,
and that asking for a local model says which install to run. It skips when
pip cannot reach an index. About 20 s with a warm pip cache.
"""

from __future__ import annotations

import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

from tests.test_architecture import LIGHT_RUN

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NETWORK = (
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "Read timed out",
    "ConnectTimeoutError",
)

MISSING_EXTRA = textwrap.dedent(
    """
    import importlib.util, json
    out = {m: importlib.util.find_spec(m) is not None for m in ("torch", "transformers")}
    messages = []
    def attempt(fn):
        try:
            fn()
        except ImportError as exc:
            messages.append(str(exc))
    import langgraph_ttc.models as models
    import langgraph_ttc.verifiers as verifiers
    from langgraph_ttc.defaults import load_bundled
    attempt(lambda: models.TransformersGenerator)
    attempt(lambda: verifiers.TransformersPRM)
    attempt(load_bundled)
    out["messages"] = messages
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def core_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv holding ``langgraph-ttc`` installed without extras."""
    where = tmp_path_factory.mktemp("core-venv")
    venv.create(where / "venv", with_pip=True)
    python = where / "venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=where,
    )
    if done.returncode != 0:
        if any(words in done.stderr for words in NETWORK):
            pytest.skip(f"pip cannot reach a package index:\n{done.stderr[-1500:]}")
        pytest.fail(f"pip install of the core failed:\n{done.stderr[-3000:]}")
    return python


def _run(python: Path, script: str, cwd: Path) -> str:
    # Run outside the checkout, so that the installed package is the one imported.
    done = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, timeout=180, cwd=cwd
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_core_install_runs_graphs_without_torch(core_python: Path, tmp_path: Path) -> None:
    assert _run(core_python, LIGHT_RUN, tmp_path) == '{"torch": false, "transformers": false}'


def test_a_missing_extra_names_the_install(core_python: Path, tmp_path: Path) -> None:
    import json

    out = json.loads(_run(core_python, MISSING_EXTRA, tmp_path))
    assert (out["torch"], out["transformers"]) == (False, False)
    assert len(out["messages"]) == 3, out
    for message in out["messages"]:
        assert "pip install 'langgraph-ttc[local]'" in message
