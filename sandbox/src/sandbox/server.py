"""Serving: an ASGI app by uvicorn in a daemon thread (:class:`ThreadServer`, what the tests
use for each fake), and the demo's whole world in a process of its own
(:class:`SandboxProcess`, ``python -m sandbox DIRECTORY PORT [SMTP_PORT]``)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn

if TYPE_CHECKING:
    from sandbox.world import Sandbox


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bound_socket(port: int) -> socket.socket:
    """A listening socket on ``127.0.0.1:port`` (0: a free port); ``OSError`` when taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    sock.listen(512)
    sock.setblocking(False)
    return sock


class ThreadServer:
    """``app`` served by uvicorn on ``127.0.0.1:port`` (a free port by default) in a daemon
    thread: ``with ThreadServer(app) as server: server.url`` or ``.start()``/``.stop()``.
    No access log (URLs carry access tokens; no personal data in logs)."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self._sock = bound_socket(port)
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_keep_alive=30,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self._sock]},
            name="sandbox-http",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.server.should_exit = True
                self._sock.close()
                raise RuntimeError("the sandbox's HTTP server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> ThreadServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SandboxProcess:
    """The world served by a process of its own (``python -m sandbox``), so the providers and
    gateways answer in parallel with the demo's simulator instead of sharing its interpreter.
    The gateway side (signing notifications) runs here, with the same keys."""

    def __init__(self, directory: Path) -> None:
        from sandbox.world import Sandbox

        self.directory = directory
        self.keys: Sandbox = Sandbox.load_or_create(directory)
        self._process: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None
        self.port = 0

    def __getattr__(self, name: str) -> Any:  # service_env, *_notification, ...
        return getattr(self.keys, name)

    def start(self, port: int, smtp_port: int | None = None) -> None:
        args = [sys.executable, "-m", "sandbox", str(self.directory), str(port)]
        if smtp_port is not None:
            args.append(str(smtp_port))
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        self.port = port
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox process did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    @property
    def client(self) -> httpx.Client:
        """One keep-alive client, made once: ``httpx.get`` builds a client (and its TLS
        context, loading the CA bundle) on every call, and the simulator reads the phones
        every simulated day."""
        if self._client is None:
            self._client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        return self._client

    def messages(self, since: int = 0) -> list[dict[str, Any]]:
        r = self.client.get("/_sandbox/messages", params={"since": since})
        r.raise_for_status()
        return list(r.json())

    def counts(self) -> dict[str, int]:
        r = self.client.get("/_sandbox/counts")
        r.raise_for_status()
        return dict(r.json())


def serve(argv: list[str]) -> None:
    """``DIRECTORY PORT [SMTP_PORT]``: serve the world until SIGTERM or SIGINT."""
    from sandbox.world import Sandbox

    directory, port = Path(argv[0]), int(argv[1])
    box = Sandbox.load_or_create(directory)
    box.start(port, int(argv[2]) if len(argv) > 2 else None)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    box.stop()
