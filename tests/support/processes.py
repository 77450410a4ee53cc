"""Run a Propfee service as a real OS process for end-to-end and failure tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServiceProcess:
    def __init__(
        self,
        name: str,
        *,
        database_url: str,
        bootstrap_servers: str,
        topic_prefix: str,
        log_dir: Path,
        extra_env: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """``extra_env`` is prefixed with the service's name (``BILLING_...``); ``env`` is
        passed as is (e.g. ``PROPFEE_AUTH_*``, which every service reads)."""
        self.name = name
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        prefix = name.upper()
        self.env = {
            **os.environ,
            f"{prefix}_DATABASE_URL": database_url,
            f"{prefix}_HTTP_PORT": str(self.port),
            f"{prefix}_RELAY_POLL_INTERVAL_S": "0.5",
            f"{prefix}_CONSUMER_BACKOFF_INITIAL_S": "0.05",
            f"{prefix}_STARTUP_BACKOFF_MAX_S": "2",
            # A killed process's partitions move to the survivors after 10 s, not 30 s.
            f"{prefix}_CONSUMER_SESSION_TIMEOUT_MS": "10000",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            "PROPFEE_TOPIC_PREFIX": topic_prefix,
            **(env or {}),
            **{f"{prefix}_{k.upper()}": v for k, v in (extra_env or {}).items()},
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.name, "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, nothing flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait for a graceful exit; return the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode

    def stop_gracefully(self) -> bool:
        """SIGTERM; True when the process finished its shutdown (uvicorn then re-raises the
        signal, so the exit status is 0 or -SIGTERM) and logged that the service stopped."""
        code = self.stop()
        return code in (0, -signal.SIGTERM) and '"service stopped"' in self.log_path.read_text()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"
