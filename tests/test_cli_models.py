"""The endpoint options of ``ttc solve`` (and ``ttc serve``): mode, tokenizer, FLOPs, sampling."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from langgraph_ttc import cli
from langgraph_ttc.cli_models import UsageError, build_models
from langgraph_ttc.models import OpenAIGenerator
from tests.test_models_openai import FakeOpenAI

POLICY = str(
    Path(__file__).resolve().parents[1] / "langgraph_ttc" / "suite" / "models" / "policy-small"
)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    yield server
    server.close()


def _args(*extra: str) -> argparse.Namespace:
    base = ["solve", "3+4", "--endpoint", "http://127.0.0.1:9/v1", "--endpoint-model", "m"]
    return cli.build_parser().parse_args([*base, *extra])


def test_completions_mode_with_tokenizer_params_and_sampling() -> None:
    args = _args(
        "--endpoint-mode",
        "completions",
        "--endpoint-tokenizer",
        POLICY,
        "--endpoint-params",
        "7e9",
        "--endpoint-top-k",
        "5",
    )
    generator, verifier, reviser = build_models(args)
    assert isinstance(generator, OpenAIGenerator)
    assert verifier is None and reviser is None
    assert generator.mode == "completions" and generator.endpoint.endswith("/v1/completions")
    assert generator.params == 7_000_000_000
    assert generator.tokenizer.chat_template  # loaded from the folder
    assert generator.sampling == {
        "top_k": 5,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "repeat_penalty": 1.0,
    }


def test_defaults_are_chat_and_neutral_sampling() -> None:
    generator, _, _ = build_models(_args())
    assert generator.mode == "chat" and generator.params is None
    assert generator.sampling["top_k"] == 0 and generator.sampling["repeat_penalty"] == 1.0
    server, _, _ = build_models(_args("--endpoint-sampling", "server", "--endpoint-min-p", "0.1"))
    assert server.sampling == {"min_p": 0.1}


def test_openai_itself_gets_no_unknown_fields() -> None:
    args = _args()
    args.endpoint = "https://api.openai.com/v1"
    generator, _, _ = build_models(args)
    assert generator.sampling == {}


def test_a_namespace_without_endpoint_settings_takes_the_defaults() -> None:
    """``ttc serve`` builds its own namespace: the new settings are optional there."""
    args = argparse.Namespace(
        model=None,
        verifier=None,
        reviser=None,
        endpoint="http://127.0.0.1:9/v1",
        endpoint_model="m",
        api_key=None,
        device=None,
    )
    generator, _, _ = build_models(args)
    assert generator.mode == "chat" and generator.sampling["min_p"] == 0.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--endpoint-mode", "completions"], "needs --endpoint-tokenizer"),
        (["--endpoint-tokenizer", "/no/such/folder"], "no model folder"),
    ],
)
def test_bad_endpoint_settings(extra: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_models(_args(*extra))


def test_endpoint_settings_need_an_endpoint() -> None:
    args = cli.build_parser().parse_args(["solve", "3+4", "--endpoint-mode", "completions"])
    with pytest.raises(UsageError, match="--endpoint-mode need --endpoint"):
        build_models(args)


@pytest.mark.parametrize("bad", ["zero", "0", "1.5"])
def test_bad_params_count_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="--endpoint-params"):
        _args("--endpoint-params", bad)


def test_solve_counts_endpoint_flops(fake: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    """usage.flops is 2 x params x tokens for an endpoint whose size is given."""
    fake.honor_n = True
    code = cli.main(
        [
            "solve",
            "3+4",
            "--endpoint",
            fake.base_url,
            "--endpoint-model",
            "m",
            "--api-key",
            "k",
            "--endpoint-mode",
            "completions",
            "--endpoint-tokenizer",
            POLICY,
            "--endpoint-params",
            "1000",
            "--strategy",
            "majority",
            "--budget",
            "2",
            "--json",
            "--no-progress",
        ]
    )
    assert code in (0, 1)  # the scripted server writes no answer
    usage = json.loads(capsys.readouterr().out)["usage"]
    tokens = usage["prompt_tokens"] + usage["generated_tokens"]
    assert tokens > 0
    assert usage["flops"] == pytest.approx(2 * 1000 * tokens)
    # completions mode rendered the bundled chat template, BOS kept (this server adds none)
    assert fake.paths[-1] == "/v1/completions"
    assert fake.bodies[-1]["prompt"].startswith("<s>3+4\n")
    assert fake.bodies[-1]["top_k"] == 0 and fake.bodies[-1]["min_p"] == 0.0
