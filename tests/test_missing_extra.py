"""Without the ``[local]`` extra, local models say which install to run (fast, in-process check).

torch and transformers are hidden from a fresh interpreter (``sys.modules``
entries set to ``None``, so importing them fails as if they were not
installed). The real fresh-venv install is ``tests/integration/test_light_install.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HIDDEN = textwrap.dedent(
    """
    import json, sys
    sys.modules["torch"] = None
    sys.modules["transformers"] = None
    messages = []
    def attempt(fn):
        try:
            fn()
            messages.append(None)
        except ImportError as exc:
            messages.append(str(exc))
    import langgraph_ttc.models as models
    import langgraph_ttc.verifiers as verifiers
    from langgraph_ttc.defaults import load_bundled
    from langgraph_ttc.models import OpenAIGenerator
    attempt(lambda: models.TransformersGenerator)
    attempt(lambda: verifiers.TransformersPRM)
    attempt(lambda: verifiers.TransformersLikelihoodVerifier)
    attempt(load_bundled)
    attempt(lambda: OpenAIGenerator("m", tokenizer="some/folder").tokenizer)
    verifiers.LLMJudge, verifiers.FunctionVerifier, models.ChatModelGenerator  # light: no error
    print(json.dumps(messages))
    """
)


def test_local_names_name_the_extra_when_torch_is_missing() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HIDDEN], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    messages = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(messages) == 5
    for message in messages:
        assert message is not None and "pip install 'langgraph-ttc[local]'" in message
    assert messages[0].startswith("TransformersGenerator runs models locally")
