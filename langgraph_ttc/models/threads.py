"""How many CPU threads torch uses for the local models.

Torch's default (one thread per core) helps large matrix products on an
idle machine, and hurts small models on a busy one: each of the thousands of
small operations of a decoding step ends in a barrier across all threads, and
when another process holds a core, every barrier waits for a descheduled
thread. Measured on a 2-core machine with another process busy: ``ttc solve
--strategy best-of-n --budget 16`` on the bundled models took 11.4 s with
torch's 2 threads against 5.1 s with 1 thread. Small models gain nothing
from a second thread even on an idle machine: their operations are too small
to split.

The rule (:func:`choose_threads`): a thread count the user chose wins (the
``threads`` setting, else ``OMP_NUM_THREADS`` or ``TTC_TORCH_THREADS`` in the
environment); otherwise a model under :data:`SMALL_MODEL_PARAMS` parameters
runs on 1 thread, and a larger one keeps torch's default. Only CPU models
are touched. Torch's thread count is per process in name only: with
OpenMP, ``torch.set_num_threads`` reaches the calling thread and threads
started later, not threads already running; so the adapters apply it again
in the thread that runs their batches (:func:`use_threads`). The last model
loaded sets the count for threads started after it.
"""

from __future__ import annotations

import os

__all__ = ["SMALL_MODEL_PARAMS", "THREADS_ENV", "apply_threads", "choose_threads", "use_threads"]

SMALL_MODEL_PARAMS = 100_000_000
"""Below this many parameters, a model runs on one CPU thread unless told otherwise."""

THREADS_ENV = "TTC_TORCH_THREADS"
"""Environment variable that sets the torch thread count for the local models."""


def choose_threads(params: int | None, threads: int | None = None) -> int | None:
    """The torch CPU thread count to use, or ``None`` to leave torch's setting.

    Args:
        params: The model's parameter count, if known.
        threads: The user's setting; wins when given.

    Raises:
        ValueError: On a setting (argument or ``TTC_TORCH_THREADS``) that is not
            a positive int.
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int or None, got {threads!r}")
        return threads
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive int, got {env!r}")
        return int(env)
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return None  # torch read it at start-up: the user chose
    if params is not None and params < SMALL_MODEL_PARAMS:
        return 1
    return None


def apply_threads(device: object, params: int | None, threads: int | None = None) -> int | None:
    """Set torch's CPU thread count by :func:`choose_threads` when ``device`` is the CPU.

    Args:
        device: The model's device (a ``torch.device`` or its name).
        params: The model's parameter count, if known.
        threads: The user's setting, if any.

    Returns:
        The count set (hand it to :func:`use_threads` in the threads that run
        the model), or ``None`` when torch's setting is left alone.
    """
    count = choose_threads(params, threads)
    if count is None or not str(device).startswith("cpu"):
        return None
    use_threads(count)
    return count


def use_threads(count: int | None) -> None:
    """Make torch use ``count`` CPU threads in the calling thread (``None``: leave it)."""
    if count is None:
        return
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
