"""The benchmark's on-disk cache: sample pools and per-run results, in SQLite.

Every finished unit of work is committed at once, so a killed run loses at
most the unit in flight and the next run picks up where it stopped:

* ``pools``: one row per (split, question, kind): the sampled solutions of a
  question with their scores and token counts (best-of-N and majority
  subsample these), or its revision chains.
* ``results``: one row per (split, question, arm, budget, seed): whether the
  selected answer was right, and what it cost.
* ``meta``: the models' fingerprint (a cache made with other models is
  refused) and the history of sweep sessions (wall times; a session is
  recorded when it starts, so a killed one stays as ``finished: false``).

Payloads are JSON text. Reads return rows sorted by their keys, so everything
computed from a cache is deterministic.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BenchCache", "ResultKey", "ResultRow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pools (
    split TEXT NOT NULL, qid TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (split, qid, kind)
);
CREATE TABLE IF NOT EXISTS results (
    split TEXT NOT NULL, qid TEXT NOT NULL, arm TEXT NOT NULL, budget INTEGER NOT NULL,
    seed INTEGER NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (split, qid, arm, budget, seed)
);
"""


@dataclass(frozen=True, order=True)
class ResultKey:
    """Where a result belongs: split, question, arm, budget (generations) and seed."""

    split: str
    qid: str
    arm: str
    budget: int
    seed: int


@dataclass(frozen=True)
class ResultRow:
    """A cached result: its key and its payload (``correct``, cost, ...)."""

    key: ResultKey
    payload: Mapping[str, Any]

    @property
    def correct(self) -> bool:
        return bool(self.payload["correct"])


class BenchCache:
    """A benchmark cache in one SQLite file.

    Args:
        path: The database file (its folder is created).

    Raises:
        ValueError: If the file exists but is not a benchmark cache.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path))
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path}: not a benchmark cache ({exc})") from exc

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> BenchCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: all of them land, or none (a kill mid-way loses the group)."""
        with self._db:
            yield

    # ------------------------------------------------------------------ meta

    def get_meta(self, key: str) -> Any:
        """A meta value (decoded JSON), or ``None``."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        """Store a meta value (as JSON) and commit."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (key, json.dumps(value, sort_keys=True)),
            )

    def check_fingerprint(self, fingerprint: Mapping[str, Any]) -> None:
        """Refuse a cache made with other models; stamp a new cache.

        Raises:
            ValueError: If the cache holds results of other models (names both).
        """
        stored = self.get_meta("fingerprint")
        wanted = json.loads(json.dumps(dict(fingerprint), sort_keys=True))
        if stored is None:
            self.set_meta("fingerprint", wanted)
        elif stored != wanted:
            raise ValueError(
                f"{self.path} was made with other models or settings ({stored}); this run "
                f"uses {wanted}. Use another --out folder, or delete the cache to start over."
            )

    def add_session(self, record: Mapping[str, Any]) -> None:
        """Append a sweep session (what it computed, how long it took) to the history."""
        sessions = self.get_meta("sessions") or []
        sessions.append(dict(record))
        self.set_meta("sessions", sessions)

    def finish_session(self, record: Mapping[str, Any]) -> None:
        """Replace the last session's record (added when it started) with the finished one."""
        sessions = self.get_meta("sessions") or []
        if sessions and sessions[-1].get("finished") is False:
            sessions[-1] = dict(record)
        else:
            sessions.append(dict(record))
        self.set_meta("sessions", sessions)

    # ------------------------------------------------------------------ pools

    def get_pool(self, split: str, qid: str, kind: str) -> Any:
        """A cached pool (decoded JSON), or ``None``."""
        row = self._db.execute(
            "SELECT payload FROM pools WHERE split = ? AND qid = ? AND kind = ?",
            (split, qid, kind),
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def put_pool(
        self, split: str, qid: str, kind: str, payload: Any, *, commit: bool = True
    ) -> None:
        """Store a pool; committed at once unless inside :meth:`transaction`."""
        self._db.execute(
            "INSERT OR REPLACE INTO pools (split, qid, kind, payload) VALUES (?, ?, ?, ?)",
            (split, qid, kind, json.dumps(payload, sort_keys=True)),
        )
        if commit:
            self._db.commit()

    def pool_keys(self, kind: str | None = None) -> set[tuple[str, str, str]]:
        """``(split, qid, kind)`` of every cached pool (of one kind)."""
        rows = self._db.execute("SELECT split, qid, kind FROM pools").fetchall()
        return {(s, q, k) for s, q, k in rows if kind is None or k == kind}

    # ------------------------------------------------------------------ results

    def has_result(self, key: ResultKey) -> bool:
        """Whether a result is cached."""
        row = self._db.execute(
            "SELECT 1 FROM results WHERE split = ? AND qid = ? AND arm = ? AND budget = ? "
            "AND seed = ?",
            (key.split, key.qid, key.arm, key.budget, key.seed),
        ).fetchone()
        return row is not None

    def result_keys(self) -> set[ResultKey]:
        """The keys of every cached result."""
        rows = self._db.execute("SELECT split, qid, arm, budget, seed FROM results").fetchall()
        return {ResultKey(*r) for r in rows}

    def put_result(
        self, key: ResultKey, payload: Mapping[str, Any], *, commit: bool = True
    ) -> None:
        """Store one result; committed at once unless inside :meth:`transaction`."""
        self._db.execute(
            "INSERT OR REPLACE INTO results (split, qid, arm, budget, seed, payload) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                key.split,
                key.qid,
                key.arm,
                key.budget,
                key.seed,
                json.dumps(dict(payload), sort_keys=True),
            ),
        )
        if commit:
            self._db.commit()

    def put_results(self, rows: Iterable[tuple[ResultKey, Mapping[str, Any]]]) -> None:
        """Store several results in one transaction."""
        with self._db:
            for key, payload in rows:
                self.put_result(key, payload, commit=False)

    def results(self, split: str | None = None) -> list[ResultRow]:
        """Every cached result (of one split), sorted by key."""
        if split is None:
            cur = self._db.execute("SELECT split, qid, arm, budget, seed, payload FROM results")
        else:
            cur = self._db.execute(
                "SELECT split, qid, arm, budget, seed, payload FROM results WHERE split = ?",
                (split,),
            )
        rows = [ResultRow(ResultKey(*r[:5]), json.loads(r[5])) for r in cur.fetchall()]
        return sorted(rows, key=lambda r: r.key)
