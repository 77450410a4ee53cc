"""Link cuts: each service runs in a network namespace of the suite's own, joined to the host
by three veth pairs, one per kind of link (Kafka, PostgreSQL, everything else: the sandbox's
gateways and providers, and the service's own HTTP port). Small TCP forwarders
(chaos/forward.py) make 127.0.0.1:<port> inside the namespace reach the host's port over the
right pair, and the host's 127.0.0.1:<service port> reach the service. Cutting a link takes
the host end of its pair down (no packet passes, new connections fail, open ones stall);
healing brings it up. Only this machine's addresses (10.231-233.x.x on the veth pairs) are
used, no firewall rules; the namespaces and pairs are removed afterwards, always.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from chaos.infra import ROOT
from tests.support.processes import free_port

KINDS = {"kafka": ("k", 231), "postgres": ("p", 232), "other": ("o", 233)}
PREFIX = "chaos-"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)


def available() -> bool:
    """True when this process may make network namespaces (root, ``ip netns`` works)."""
    try:
        return ip("netns", "list", check=False).returncode == 0 and _is_root()
    except (OSError, subprocess.SubprocessError):
        return False


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


class Netns:
    """``tag`` names this run's namespaces and ``base`` numbers its veth pairs, so that two
    suites (``make chaos`` and the reduced test) may run side by side."""

    def __init__(self, infra: Any, system: Any, tag: str = "m", base: int = 0) -> None:
        self.infra = infra
        self.system = system
        self.tag = tag
        self.base = base
        self.index: dict[str, int] = {}
        self.forwarders: list[subprocess.Popen[bytes]] = []
        self.made: list[str] = []

    def ns(self, service: str) -> str:
        return f"{PREFIX}{self.tag}-{service}"

    def veth(self, service: str, kind: str) -> str:
        return f"ch{KINDS[kind][0]}{self.index[service]}h"

    def addr(self, service: str, kind: str, end: int) -> str:
        return f"10.{KINDS[kind][1]}.{self.index[service]}.{end}"

    def remove_stale(self, services: list[str]) -> None:
        """Namespaces and veth ends a killed earlier run of this suite left behind."""
        for line in ip("netns", "list", check=False).stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(f"{PREFIX}{self.tag}-"):
                ip("netns", "del", name, check=False)
        for i in range(1, len(services) + 1):
            for letter, _ in KINDS.values():
                name = f"ch{letter}{self.base + i}h"
                if ip("link", "show", name, check=False).returncode == 0:
                    ip("link", "del", name, check=False)

    def setup(self, services: dict[str, Any], ports: dict[str, list[int]]) -> None:
        """``ports``: the host's ports per kind the services need (``kafka``, ``postgres``,
        ``other``). Wires every service's namespace and starts the forwarders; sets the
        system's wrapper so that the services start inside their namespaces."""
        self.remove_stale(list(services))
        host_pairs: list[str] = []
        for i, (name, process) in enumerate(services.items(), start=self.base + 1):
            self.index[name] = i
            ns = self.ns(name)
            ip("netns", "add", ns)
            self.made.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
            ns_pairs: list[str] = []
            for kind in KINDS:
                host_end, ns_end = self.veth(name, kind), f"ch{KINDS[kind][0]}{i}n"
                ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
                ip("link", "set", ns_end, "netns", ns)
                ip("addr", "add", f"{self.addr(name, kind, 1)}/24", "dev", host_end)
                ip("link", "set", host_end, "up")
                ip("-n", ns, "addr", "add", f"{self.addr(name, kind, 2)}/24", "dev", ns_end)
                ip("-n", ns, "link", "set", ns_end, "up")
                for port in ports[kind]:
                    # The host end listens on a port of its own: infra.sh refuses to start
                    # Kafka or PostgreSQL while anything listens on their port, any address.
                    relay = free_port()
                    host_pairs.append(f"{self.addr(name, kind, 1)}:{relay}=127.0.0.1:{port}")
                    ns_pairs.append(f"127.0.0.1:{port}={self.addr(name, kind, 1)}:{relay}")
            # the service's HTTP port: host 127.0.0.1 → the namespace's "other" end
            inner = self.addr(name, "other", 2)
            host_pairs.append(f"127.0.0.1:{process.port}={inner}:{process.port}")
            ns_pairs.append(f"{inner}:{process.port}=127.0.0.1:{process.port}")
            self._forward(["ip", "netns", "exec", ns], ns_pairs, process.log_path.parent, name)
            self.system.wrappers[name] = ["ip", "netns", "exec", ns]
        self._forward([], host_pairs, next(iter(services.values())).log_path.parent, "host")

    def _forward(self, wrapper: list[str], pairs: list[str], log_dir: Any, name: str) -> None:
        log = (log_dir / f"forward-{name}.log").open("ab")
        process = subprocess.Popen(
            [*wrapper, sys.executable, "-m", "chaos.forward", *pairs],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.forwarders.append(process)
        deadline = time.monotonic() + 30
        path = log_dir / f"forward-{name}.log"
        while b"forwarding" not in path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"forwarder {name} did not start: {path.read_text()[-2000:]}")
            time.sleep(0.1)

    def cut(self, service: str, target: str) -> None:
        ip("link", "set", self.veth(service, target), "down")

    def heal(self, service: str, target: str) -> None:
        ip("link", "set", self.veth(service, target), "up")

    def teardown(self) -> None:
        for process in self.forwarders:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.forwarders.clear()
        for ns in self.made:
            ip("netns", "del", ns, check=False)
        self.made.clear()
        for name in self.index:
            for kind in KINDS:
                if ip("link", "show", self.veth(name, kind), check=False).returncode == 0:
                    ip("link", "del", self.veth(name, kind), check=False)
