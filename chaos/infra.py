"""The fault suite's own infrastructure: a PostgreSQL and a Kafka (one broker, or the 3-broker
KRaft cluster) under a PROPFEE_HOME of its own, on ports of its own, so that the suite may kill
them freely. The shared infrastructure (PostgreSQL 55432, Kafka 9092) is never touched.

Everything goes through ``deploy/local/infra.sh`` with the suite's environment: the same
scripts start the development infrastructure, so what is tested is what developers run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "deploy" / "local" / "infra.sh"
#: The shared development home whose downloaded Kafka class path and Maven repository the
#: suite reuses (nothing is written there): the checkout's own .local unless PROPFEE_HOME (or
#: PROPFEE_SHARED_HOME) says otherwise, as infra.sh decides it.
SHARED_HOME = Path(
    os.environ.get("PROPFEE_SHARED_HOME") or os.environ.get("PROPFEE_HOME") or ROOT / ".local"
)


@dataclass
class ChaosInfra:
    home: Path
    cluster: bool = True
    pg_port: int = 55532
    kafka_port: int = 9392  # the single broker (when ``cluster`` is False)
    cluster_port_base: int = 9492
    log: list[str] = field(default_factory=list)

    # -- environment ---------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "PROPFEE_HOME": str(self.home),
            "PG_PORT": str(self.pg_port),
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.kafka_port + 1),
            "KAFKA_CLUSTER_PORT_BASE": str(self.cluster_port_base),
            "PROPFEE_INFRA_SKIP_PY_CHECK": "1",
        }
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)  # infra.sh would treat Kafka as external
        env.pop("PROPFEE_TEST_DATABASE_URL", None)
        for name in [n for n in env if n.endswith("DATABASE_URL")]:
            del env[name]
        tools = SHARED_HOME / "kafka-secure" / "libs"  # the cluster's class path (read-only)
        if (tools / ".propfee-complete").exists() and "PROPFEE_KAFKA_TOOLS_LIBS" not in env:
            env["PROPFEE_KAFKA_TOOLS_LIBS"] = str(tools)
        repo = SHARED_HOME / "maven-repo"
        if repo.is_dir() and "PROPFEE_MAVEN_REPO" not in env:
            env["PROPFEE_MAVEN_REPO"] = str(repo)
        return env

    def sh(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        t = time.monotonic()
        done = subprocess.run(
            ["bash", str(INFRA), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.log.append(
            f"infra.sh {' '.join(args)} → {done.returncode} ({time.monotonic() - t:.1f} s)"
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"infra.sh {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    @property
    def pg_url(self) -> str:
        """The runtime role's server URL (no database name)."""
        return f"postgresql://propfee:propfee@127.0.0.1:{self.pg_port}"

    @property
    def pg_owner_url(self) -> str:
        return f"postgresql://propfee_owner:propfee_owner@127.0.0.1:{self.pg_port}"

    @property
    def bootstrap(self) -> str:
        if not self.cluster:
            return f"127.0.0.1:{self.kafka_port}"
        out = self.sh("env-kafka-cluster")
        m = re.search(r"KAFKA_BOOTSTRAP_SERVERS=['\"]?([^'\"\s]+)", out)
        if m is None:
            raise RuntimeError(f"env-kafka-cluster printed no KAFKA_BOOTSTRAP_SERVERS: {out!r}")
        return m.group(1)

    @property
    def brokers(self) -> list[int]:
        """Node ids of the brokers (the cluster's 1..3, the single broker's 1)."""
        return [1, 2, 3] if self.cluster else [1]

    # -- life cycle ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Reuse the shared home's downloaded Kafka class path (a copy: the suite's home is
        its own); infra.sh downloads it otherwise."""
        libs = self.home / "kafka" / "libs"
        shared = SHARED_HOME / "kafka" / "libs"
        if not libs.exists() and (shared / ".propfee-complete").exists():
            libs.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(shared, libs)

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.prepare()
        self.sh("start-postgres")
        if self.cluster:
            self.sh("start-kafka-cluster", timeout=600)
        else:
            self.sh("start-kafka", timeout=600)

    def stop(self) -> None:
        if self.cluster:
            self.sh("stop-kafka-cluster", check=False)
        else:
            self.sh("stop-kafka", check=False)
        self.sh("stop-postgres", check=False)

    # -- faults --------------------------------------------------------------------------

    def kill_broker(self, node: int) -> None:
        """kill -9 of one broker (of the single broker when there is no cluster)."""
        if self.cluster:
            self.sh("kill-kafka-node", str(node))
            return
        pid = int((self.home / "run" / "kafka.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def start_broker(self, node: int) -> None:
        if self.cluster:
            self.sh("start-kafka-node", str(node), timeout=300)
        else:
            self.sh("start-kafka", timeout=300)

    def controller(self) -> int:
        """The node id of the KRaft quorum leader (the active controller)."""
        if not self.cluster:
            return 1
        out = self.sh("kafka-cluster-leader").strip()
        m = re.search(r"(\d+)\s*$", out)
        if m is None:
            raise RuntimeError(f"kafka-cluster-leader printed {out!r}")
        return int(m.group(1))

    def restart_postgres(self) -> None:
        self.sh("stop-postgres")
        self.sh("start-postgres")
