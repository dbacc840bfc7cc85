"""Helpers for integration tests: a real ``transformers serve`` process and a faulty HTTP proxy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

FAULTS = ("pass", "429", "500", "503", "401", "hang", "drop", "garbage", "nochoices")


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServeProcess:
    """A running ``transformers serve``."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


@contextlib.contextmanager
def transformers_serve(
    model_dir: Path, workdir: Path, *, ready_timeout: float = 180.0
) -> Iterator[ServeProcess]:
    """Start ``transformers serve --continuous-batching`` on ``model_dir``; always kill it.

    Raises:
        RuntimeError: If the server exits or is not ready within ``ready_timeout``.
    """
    exe = Path(sys.executable).with_name("transformers")
    if not exe.exists():
        raise RuntimeError(f"the transformers CLI is missing at {exe}")
    cache = workdir / "hf-cache"
    cache.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache), TOKENIZERS_PARALLELISM="false"
    )
    port = free_port()
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                str(exe),
                "serve",
                "--continuous-batching",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                str(model_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
            start_new_session=True,  # its own process group, so we can kill all of it
        )
    server = ServeProcess(proc, port, log_path)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"transformers serve exited ({proc.returncode}):\n{server.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"transformers serve not ready in {ready_timeout}s:\n{server.log_tail()}"
                )
            time.sleep(0.3)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def server_config(config: Path, workdir: Path) -> Path:
    """A copy of a ``langgraph.json`` in ``workdir`` whose paths still point at the originals.

    ``langgraph dev`` resolves paths against its working directory and writes
    its state there (``.langgraph_api``), so the server runs in ``workdir``.
    """
    spec = json.loads(config.read_text())
    base = config.parent.resolve()
    spec["dependencies"] = [
        str((base / d).resolve()) if d.startswith(".") else d for d in spec.get("dependencies", [])
    ]
    spec["graphs"] = {
        name: str((base / where.split(":", 1)[0]).resolve()) + ":" + where.split(":", 1)[1]
        for name, where in spec["graphs"].items()
    }
    out = workdir / "langgraph.json"
    out.write_text(json.dumps(spec))
    return out


@contextlib.contextmanager
def langgraph_dev(
    config: Path, workdir: Path, *, ready_timeout: float = 120.0
) -> Iterator[ServeProcess]:
    """Start ``langgraph dev`` (no ``--allow-blocking``) on a copy of ``config``; always kill it.

    Raises:
        RuntimeError: If the CLI is missing, or the server exits or is not ready in time.
    """
    exe = Path(sys.executable).with_name("langgraph")
    if not exe.exists():
        raise RuntimeError(f"the langgraph CLI is missing at {exe}")
    copy = server_config(config, workdir)
    env = dict(os.environ, HF_HUB_OFFLINE="1", LANGSMITH_TRACING="false", OMP_NUM_THREADS="1")
    env.pop("LANGGRAPH_ALLOW_BLOCKING", None)
    port = free_port()
    log_path = workdir / "langgraph-dev.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                str(exe),
                "dev",
                "--config",
                str(copy),
                "--port",
                str(port),
                "--no-browser",
                "--no-reload",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
            start_new_session=True,
        )
    server = ServeProcess(proc, port, log_path)
    try:
        _wait_ready(server, f"http://127.0.0.1:{port}/ok", ready_timeout, "langgraph dev")
        yield server
    finally:
        _kill(proc)


def _wait_ready(server: ServeProcess, url: str, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({server.proc.returncode}):\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready in {timeout}s:\n{server.log_tail()}")
        time.sleep(0.3)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# ---------------------------------------------------------------------- HTTP plumbing


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0]:
        return None
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return _Request(method, path, headers, body)


def _response(
    status: int, reason: str, body: bytes, content_type: str = "application/json"
) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _ThreadedServer:
    """An asyncio TCP server running in its own thread and loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        fut.result(timeout=10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            req = await _read_request(reader)
            if req is not None:
                await self.handle(req, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            with contextlib.suppress(Exception):
                writer.close()

    async def handle(self, req: _Request, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.sleep(0)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class ProxyStats:
    """What the proxy saw: one entry per request, the fault it applied."""

    log: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    bodies: list[dict[str, object]] = field(default_factory=list)


class FaultyProxy(_ThreadedServer):
    """A proxy in front of a real server that injects faults on chosen requests.

    ``script`` faults are applied to the first requests in order, then
    ``default`` to all others. Faults: ``pass`` (forward), ``429``, ``500``,
    ``503`` and ``401`` (an error response), ``hang`` (answer nothing for
    ``hang_s`` seconds, then close), ``drop`` (close the connection without an
    answer), ``garbage`` (200 with a non-JSON body) and ``nochoices`` (200 with
    JSON that has no choices).
    """

    def __init__(
        self,
        upstream_port: int,
        *,
        script: tuple[str, ...] = (),
        default: str = "pass",
        hang_s: float = 8.0,
    ) -> None:
        super().__init__()
        for f in (*script, default):
            if f not in FAULTS:
                raise ValueError(f"unknown fault {f!r}")
        self.upstream_port = upstream_port
        self.script: deque[str] = deque(script)
        self.default = default
        self.hang_s = hang_s
        self.stats = ProxyStats()
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def set_faults(self, script: tuple[str, ...] = (), default: str = "pass") -> None:
        with self._lock:
            self.script = deque(script)
            self.default = default
            self.stats = ProxyStats()

    def _next_fault(self) -> str:
        with self._lock:
            return self.script.popleft() if self.script else self.default

    async def handle(self, req: _Request, writer: asyncio.StreamWriter) -> None:
        fault = self._next_fault()
        stats = self.stats
        stats.log.append(fault)
        with contextlib.suppress(ValueError):
            stats.bodies.append(json.loads(req.body or b"{}"))
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            await self._apply(fault, req, writer)
        finally:
            stats.in_flight -= 1

    async def _apply(self, fault: str, req: _Request, writer: asyncio.StreamWriter) -> None:
        error = {"error": {"message": f"injected {fault}", "type": "injected"}}
        if fault == "pass":
            writer.write(await self._forward(req))
        elif fault in ("429", "500", "503", "401"):
            reasons = {"429": "Too Many Requests", "500": "Internal Server Error"}
            reasons |= {"503": "Service Unavailable", "401": "Unauthorized"}
            writer.write(_response(int(fault), reasons[fault], json.dumps(error).encode()))
        elif fault == "hang":
            await asyncio.sleep(self.hang_s)
            return
        elif fault == "drop":
            transport = writer.transport
            transport.abort()
            return
        elif fault == "garbage":
            writer.write(_response(200, "OK", b"<html>upstream exploded</html>", "text/html"))
        elif fault == "nochoices":
            body = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [],
            }
            writer.write(_response(200, "OK", json.dumps(body).encode()))
        await writer.drain()

    async def _forward(self, req: _Request) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            headers = {k: v for k, v in req.headers.items() if k not in ("connection", "host")}
            headers["host"] = f"127.0.0.1:{self.upstream_port}"
            headers["connection"] = "close"
            headers["content-length"] = str(len(req.body))
            head = f"{req.method} {req.path} HTTP/1.1\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in headers.items()
            )
            writer.write(head.encode("latin-1") + b"\r\n" + req.body)
            await writer.drain()
            raw = await reader.read()  # upstream closes after one response
        finally:
            writer.close()
        # We close after each answer, so say so (or the client reuses a dead connection).
        status_and_headers, sep, body = raw.partition(b"\r\n\r\n")
        lines = [
            ln
            for ln in status_and_headers.split(b"\r\n")
            if not ln.lower().startswith(b"connection:")
        ]
        return b"\r\n".join([*lines, b"Connection: close"]) + sep + body
