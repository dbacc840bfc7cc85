"""Coalescing concurrent calls to one model into shared batches.

A graph batches within one question (one ``generate`` call asks for all N
samples); a server or a batch job runs many questions at once, each making
its own small calls. :class:`Coalescer` gathers the calls that arrive while
the model is busy (and, once concurrency has been seen, for a short wait)
and runs them as one batch in a worker thread, so that concurrent graph runs
share forward passes. It knows nothing of models: the owner gives it a
function from a list of items to a list of results. The generator, the
likelihood verifier and (later) the PRM each own one.

Results must not depend on what shares a batch: that is the owner's
contract (per-row sampling seeds, padding that does not leak); the coalescer
only keeps each caller's result and errors apart. When a shared batch
fails, every item in it is run again alone, so one caller's bad luck (say,
out of memory on a large neighbour) does not fail the others; an item that
fails alone gets its own error.

Nothing here imports torch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["DEFAULT_MAX_WAIT_S", "PAD_MULTIPLE", "Coalescer", "CoalescerStats", "padded_length"]

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_MAX_WAIT_S = 0.002
"""How long a batch waits for company once concurrency has been seen (seconds).

Short against a forward pass of even the tiny bundled models (a few ms per
decoding step), long enough for the callers that an event loop wakes in one
sweep to arrive."""

PAD_MULTIPLE = 16
"""Padded sequences are this many tokens long, or a multiple of it."""


def padded_length(length: int, multiple: int = PAD_MULTIPLE) -> int:
    """The padded length of a sequence of ``length`` tokens: its own, not its batch's.

    A forward pass's result for one row does not depend on how many rows
    share it (the matrix products are row-wise), but it does depend, in the
    last digits, on how far the row is padded: attention sums over the padded
    length. So a shared batch holds only sequences of one padded length, a
    function of each sequence's own length, and a request gets bit-for-bit the
    numbers it gets alone (a near-tie in a beam's scores cannot flip).
    """
    return -(-max(length, 1) // multiple) * multiple


_IDLE_EXIT_S = 2.0
"""The worker thread ends after this long without work; the next call starts one."""


@dataclass
class CoalescerStats:
    """What a coalescer has run, for tests and benchmarks.

    Attributes:
        batches: Batches run (a failed shared batch's reruns alone count too).
        items: Items run.
        largest: The most items one batch held.
        shared: Batches that held more than one item.
        seconds: Wall time spent running batches (the model's busy time).
    """

    batches: int = 0
    items: int = 0
    largest: int = 0
    shared: int = 0
    seconds: float = 0.0


@dataclass
class _Pending(Generic[T, R]):
    item: T
    size: int
    future: concurrent.futures.Future[R] = field(default_factory=concurrent.futures.Future)


class Coalescer(Generic[T, R]):
    """Runs concurrent calls together, in batches of at most ``max_size``.

    Callers hand an item to :meth:`call` (blocking, from any thread) or
    :meth:`acall` (awaitable; the event loop stays free) and get back their
    own result. One worker thread runs the batches one at a time: a batch
    takes the waiting items in arrival order while their sizes add up to at
    most ``max_size`` (an item larger than that runs alone). When the worker
    finds one item waiting and the last batch was shared (other callers are
    about), it waits up to ``max_wait_s`` for more; a lone caller never waits.
    Items that arrive while a batch runs form the next one.

    Args:
        run: Runs a batch: items in, one result per item out, in order. It may
            return an exception in an item's place, which that caller gets raised.
        max_size: Cap on the summed size of the items in one batch.
        max_wait_s: How long a batch waits for company (seconds; 0: never).
        size: An item's size (rows, sequences); 1 per item by default.
        name: Names the worker thread.

    Raises:
        ValueError: On a ``max_size`` below 1 or a negative ``max_wait_s``.
    """

    def __init__(
        self,
        run: Callable[[list[T]], list[R | BaseException]],
        *,
        max_size: int,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        size: Callable[[T], int] | None = None,
        name: str = "coalescer",
    ) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise ValueError(f"max_size must be a positive int, got {max_size!r}")
        check_wait(max_wait_s)
        self._run = run
        self.max_size = max_size
        self.max_wait_s = float(max_wait_s)
        self._size = size or (lambda _item: 1)
        self.name = name
        self.stats = CoalescerStats()
        self._queue: deque[_Pending[T, R]] = deque()
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._company = False  # the last batch was shared: others are about

    # ------------------------------------------------------------------ callers

    def submit(self, item: T) -> concurrent.futures.Future[R]:
        """Queue ``item``; the future holds its result (or its error)."""
        pending: _Pending[T, R] = _Pending(item, max(1, int(self._size(item))))
        with self._cond:
            self._queue.append(pending)
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name=f"{self.name}-batcher", daemon=True
                )
                self._worker.start()
            self._cond.notify()
        return pending.future

    def call(self, item: T) -> R:
        """Run ``item`` in the next batch and return its result (blocks this thread)."""
        return self.submit(item).result()

    async def acall(self, item: T) -> R:
        """Run ``item`` in the next batch; the event loop stays free meanwhile."""
        return await asyncio.wrap_future(self.submit(item))

    # ------------------------------------------------------------------ worker

    def _work(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._cond.wait(timeout=_IDLE_EXIT_S)
                    if not self._queue:
                        # Nothing for a while: end, so an unused owner can be freed.
                        self._worker = None
                        return
                self._gather()
                batch = self._take()
            self._execute(batch)

    def _gather(self) -> None:
        """Wait (lock held) up to ``max_wait_s`` for more items, if others are about."""
        if self.max_wait_s <= 0 or not self._company:
            return
        deadline = time.monotonic() + self.max_wait_s
        while sum(p.size for p in self._queue) < self.max_size:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(timeout=left)

    def _take(self) -> list[_Pending[T, R]]:
        batch = [self._queue.popleft()]
        total = batch[0].size
        while self._queue and total + self._queue[0].size <= self.max_size:
            total += self._queue[0].size
            batch.append(self._queue.popleft())
        self._company = len(batch) > 1 or bool(self._queue)
        return batch

    def _execute(self, batch: list[_Pending[T, R]]) -> None:
        try:
            results = self._run_counted([p.item for p in batch])
        except BaseException as exc:
            if len(batch) == 1:
                _settle(batch[0].future, exc)
                return
            for pending in batch:  # find out whose item it was: each alone
                try:
                    (result,) = self._run_counted([pending.item])
                except BaseException as alone:
                    result = alone
                _settle(pending.future, result)
            return
        for pending, result in zip(batch, results, strict=True):
            _settle(pending.future, result)

    def _run_counted(self, items: list[T]) -> list[R | BaseException]:
        start = time.perf_counter()
        try:
            results = self._run(items)
        finally:
            self.stats.seconds += time.perf_counter() - start
        if len(results) != len(items):
            raise ValueError(
                f"{self.name}: the batch function returned {len(results)} results "
                f"for {len(items)} items"
            )
        stats = self.stats
        stats.batches += 1
        stats.items += len(items)
        stats.largest = max(stats.largest, len(items))
        stats.shared += len(items) > 1
        return results


def check_wait(max_wait_s: object) -> float:
    """Return ``max_wait_s`` as a float if it is a number of seconds >= 0.

    Raises:
        TypeError: If it is not a number.
        ValueError: If it is negative or not finite.
    """
    if isinstance(max_wait_s, bool) or not isinstance(max_wait_s, int | float):
        raise TypeError(f"max_wait_s must be a number of seconds, got {max_wait_s!r}")
    if not 0 <= max_wait_s < float("inf"):
        raise ValueError(f"max_wait_s must be >= 0 and finite, got {max_wait_s!r}")
    return float(max_wait_s)


def _settle(future: concurrent.futures.Future[R], result: R | BaseException) -> None:
    # A caller that gave up (a cancelled task) cancelled its future: nothing to hand over.
    try:
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass
