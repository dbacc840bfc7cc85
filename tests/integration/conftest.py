"""Fixtures for integration tests: a real ``transformers serve``, started once per module."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
from _servers import FaultyProxy, ServeProcess, transformers_serve


@pytest.fixture(scope="module")
def serve(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """``transformers serve --continuous-batching`` on the tiny model (``do_sample`` on).

    Killed when the module's tests are done, whatever happened.
    """
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"transformers serve needs {missing}: pip install 'transformers[serving]'")
    with transformers_serve(tiny_model_dir, tmp_path_factory.mktemp("serve")) as server:
        yield server


@pytest.fixture
def proxy(serve: ServeProcess) -> Iterator[FaultyProxy]:
    """A faulty proxy in front of the real server; set its faults with ``set_faults``."""
    with FaultyProxy(serve.port, hang_s=6.0) as px:
        yield px
