"""A private 3-node Kafka cluster for a test: ``deploy/local/infra.sh start-kafka-cluster`` with a
throwaway ``PROPFEE_HOME`` and free ports, so it cannot collide with the shared broker or with
anyone else's cluster, and the faults of ``infra.sh`` (``kill-kafka-node``, ``start-kafka-node``,
``kafka-cluster-leader``).

    with kafka_cluster(tmp_path) as cluster:          # started, topics created (RF 3, min ISR 2)
        cluster.kill(cluster.leader()); ...; cluster.start(1)
"""

from __future__ import annotations

import asyncio
import os
import random
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "deploy" / "local" / "infra.sh"
NODES = (1, 2, 3)


def free_port_base() -> int:
    """A base port B with B, B+1, B+100, B+101, B+200, B+201 free (below the ephemeral range)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32000)
        try:
            for port in (base + step + c for step in (0, 100, 200) for c in (0, 1)):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports for the Kafka cluster")


def cluster_env(home: Path, port_base: int | None = None) -> dict[str, str]:
    """The environment of ``infra.sh`` for a cluster under ``home`` (no KAFKA_* of the caller's)."""
    outer = Path(os.environ.get("PROPFEE_HOME") or ROOT / ".local")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env |= {
        "PROPFEE_HOME": str(home),
        "KAFKA_CLUSTER_PORT_BASE": str(port_base or free_port_base()),
    }
    # Reuse the broker + tools jars already downloaded for the usual PROPFEE_HOME (infra.sh
    # checks them against the pom; otherwise it downloads, from the same Maven repository).
    env.setdefault("PROPFEE_KAFKA_TOOLS_LIBS", str(outer / "kafka-secure" / "libs"))
    if (outer / "maven-repo").is_dir():
        env.setdefault("PROPFEE_MAVEN_REPO", str(outer / "maven-repo"))
    return env


class Cluster:
    """``infra.sh`` with the cluster's own PROPFEE_HOME and ports."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.bootstrap = ""
        self.start_seconds = 0.0

    @property
    def port_base(self) -> int:
        return int(self.env["KAFKA_CLUSTER_PORT_BASE"])

    def infra(self, *args: str, timeout: float = 180) -> str:
        """Run ``infra.sh ARGS``; its stdout (AssertionError with its stderr when it fails)."""
        result = subprocess.run(
            ["bash", str(INFRA), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"infra.sh {' '.join(args)}: {result.stderr[-3000:]}"
        return result.stdout

    def kill(self, *nodes: int) -> None:
        """kill -9 of the nodes' JVMs."""
        self.infra("kill-kafka-node", *map(str, nodes))

    def start(self, *nodes: int) -> None:
        """Start the nodes again on their data; return once they have rejoined."""
        self.infra("start-kafka-node", *map(str, nodes), timeout=300)

    def leader(self) -> int:
        """The node id of the KRaft quorum leader (AssertionError when there is none)."""
        return int(self.infra("kafka-cluster-leader", timeout=60).strip())

    async def leader_or_none(self) -> int | None:
        try:
            return await asyncio.to_thread(self.leader)
        except AssertionError:
            return None  # no quorum leader right now (an election is under way, or no quorum)

    def create_topics(self) -> None:
        """Every declared topic, by the operator's command, with the production replication."""
        subprocess.run(
            [sys.executable, "-m", "propfee.admin", "topics", "--production"],
            env=self.env | {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "PROPFEE_TOPIC_PREFIX": ""},
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )


@contextmanager
def kafka_cluster(home: Path, *, topics: bool = True) -> Iterator[Cluster]:
    """Start a 3-node cluster under ``home`` (and create the topics); always stop it at the end."""
    cluster = Cluster(cluster_env(home))
    try:
        started = time.monotonic()
        cluster.infra("start-kafka-cluster", timeout=400)
        cluster.start_seconds = time.monotonic() - started
        (line,) = cluster.infra("env-kafka-cluster").splitlines()
        name, _, value = line.removeprefix("export ").partition("=")
        assert name == "KAFKA_BOOTSTRAP_SERVERS"
        (cluster.bootstrap,) = shlex.split(value)
        if topics:
            cluster.create_topics()
        yield cluster
    finally:
        subprocess.run(
            ["bash", str(INFRA), "stop-kafka-cluster"], env=cluster.env, check=False, timeout=120
        )
