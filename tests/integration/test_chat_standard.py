"""LangChain's standard integration tests for chat models, on ChatTTC.

They run offline and fast on the bundled models, passed in as the user's own
models: the suite asks chat questions ("Hello", "how are you"), which
``ChatTTC()`` with no models refuses (the bundled defaults answer only their
arithmetic task), while models the user brings take any question. The models
are tiny: one torch thread, four generations a question, about 5 s in all.

What ChatTTC does not have is declared through the suite's own properties,
and only those tests skip:

- tool calling (``bind_tools``), hence tool choice, tool messages, the agent
  loop, Anthropic-format inputs (tool-use blocks) and few-shot tool examples;
- structured output and JSON mode (they need tool calling or a model that
  follows a schema; the reply is a worked solution);
- image, PDF, audio and video inputs (the models read text);
- a per-call ``model=`` override (a ChatTTC's models are objects given at
  construction, not names a call can swap).

``test_stream_time`` replays HTTP traffic with VCR; ChatTTC makes no HTTP
call, so the cassette is empty and the test streams the model once.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

if importlib.util.find_spec("langchain_tests") is None:
    pytest.skip("langchain-tests is not installed", allow_module_level=True)

from langchain_tests.integration_tests import ChatModelIntegrationTests

from langgraph_ttc.chat import ChatTTC
from langgraph_ttc.defaults import bundled_available, load_bundled

if not bundled_available():
    pytest.skip("the bundled models are not installed", allow_module_level=True)

# test_stream_time records (no traffic) rather than benchmarks: nothing to time.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Benchmark fixture was not used:pytest_benchmark.logger.PytestBenchmarkWarning"
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


class TestChatTTCIntegration(ChatModelIntegrationTests):
    """The standard integration suite, with ChatTTC's unsupported features declared."""

    @property
    def chat_model_class(self) -> type[ChatTTC]:
        return ChatTTC

    @property
    def chat_model_params(self) -> dict[str, Any]:
        generator, verifier, reviser = load_bundled()
        return {
            "generator": generator,
            "verifier": verifier,
            "reviser": reviser,
            "budget": 4,
            "max_tokens": 64,
        }

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def enable_vcr_tests(self) -> bool:
        return True

    # ------------------------------------------------------------ not supported

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_tool_choice(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def supports_json_mode(self) -> bool:
        return False

    @property
    def supports_anthropic_inputs(self) -> bool:
        return False

    @property
    def supports_image_inputs(self) -> bool:
        return False

    @property
    def supports_image_urls(self) -> bool:
        return False

    @property
    def supports_image_tool_message(self) -> bool:
        return False

    @property
    def supports_pdf_inputs(self) -> bool:
        return False

    @property
    def supports_pdf_tool_message(self) -> bool:
        return False

    @property
    def supports_audio_inputs(self) -> bool:
        return False

    @property
    def supports_video_inputs(self) -> bool:
        return False

    @property
    def supports_model_override(self) -> bool:
        return False
