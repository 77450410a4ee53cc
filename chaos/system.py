"""The system under test: the sandbox (gateways and providers), fresh databases on the suite's
PostgreSQL, topics on the suite's Kafka, the four services as real processes, and the load."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from chaos.infra import ChaosInfra
from chaos.load import ChaosApi, make_patient
from demo.__main__ import service_env
from demo.api import Tokens
from demo.run import DemoConfig
from demo.simulate import Simulation
from demo.world import build
from propfee.auth.dev import DevIssuer
from tests.support.auth import auth_env
from tests.support.processes import ServiceProcess, free_port

SERVICES = ("billing", "payments", "dunning", "notifier")


class System:
    def __init__(self, infra: ChaosInfra, *, households: int, seed: int = 7) -> None:
        self.infra = infra
        self.households = households
        self.seed = seed
        self.run_id = f"x{secrets.token_hex(3)}"
        self.prefix = f"chaos.{self.run_id}."
        self.dir = infra.home / "runs" / self.run_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bootstrap = ""
        self.db_urls: dict[str, str] = {}
        self.services: dict[str, ServiceProcess] = {}
        self.sandbox: Any = None
        self.api: ChaosApi | None = None
        self.sim: Simulation | None = None
        self.day = date(2026, 1, 1)
        self.days_run = 0
        self.company_id = DemoConfig.company_id
        #: A service's processes may be told to reach Kafka/PostgreSQL through other
        #: addresses (the link-cut faults run it in a network namespace).
        self.wrappers: dict[str, list[str]] = {}
        self.netns: Any = None  # chaos.netns.Netns when the plan cuts links
        self.poisoned = 0  # DLQ records expected (poison records published on purpose)

    # -- start ---------------------------------------------------------------------------

    async def start(self) -> None:
        from sandbox import SandboxProcess

        self.bootstrap = self.infra.bootstrap
        self.sandbox = SandboxProcess(self.dir / "sandbox")
        sandbox_port = free_port()
        smtp_port = free_port()
        self.sandbox.start(sandbox_port, smtp_port)
        await self._databases()
        self._topics()
        issuer = DevIssuer.load_or_create(self.dir / "auth")
        env = service_env(
            self.db_urls, self.sandbox.service_env(sandbox_port, smtp_port), self.bootstrap
        )
        env |= auth_env(issuer)
        env |= {f"{s.upper()}_MIGRATION_DATABASE_URL": self._owner(s) for s in SERVICES}
        env["PROPFEE_TOPIC_PREFIX"] = self.prefix
        for name in SERVICES:
            process = ServiceProcess(
                name,
                database_url=self.db_urls[name],
                bootstrap_servers=self.bootstrap,
                topic_prefix=self.prefix,
                log_dir=self.dir,
                env=env,
            )
            self.services[name] = process
        if self.netns is not None:
            kafka_ports = [int(a.rsplit(":", 1)[1]) for a in self.bootstrap.split(",")]
            ports = {
                "kafka": kafka_ports,
                "postgres": [self.infra.pg_port],
                "other": [sandbox_port, smtp_port],
            }
            await asyncio.to_thread(self.netns.setup, self.services, ports)
        for process in self.services.values():
            self.launch(process.name)
        await asyncio.gather(
            *(asyncio.to_thread(p.wait_ready, 120) for p in self.services.values())
        )
        urls = {name: p.url for name, p in self.services.items()}
        self.api = ChaosApi(urls, Tokens(self.company_id, issuer=issuer), concurrency=16)
        ledger, households = build(self.seed, self.households)
        self.sim = Simulation(
            self.api,
            self.sandbox,
            households,
            ledger,
            seed=self.seed,
            start=self.day,
            months=1,
            community_id=f"chaos-{self.run_id}",
            company_id=self.company_id,
            bootstrap=self.bootstrap,
            prefix=self.prefix,
        )
        await make_patient(self.sim)
        await self.sim.setup()
        await self.sim.feed.start()
        await self.sim.settle.start()

    def _owner(self, service: str) -> str:
        return self.db_urls[service].replace(self.infra.pg_url, self.infra.pg_owner_url, 1)

    async def _databases(self) -> None:
        conn = await asyncpg.connect(f"{self.infra.pg_owner_url}/postgres")
        try:
            # The previous run's databases were kept for a look; they go now.
            for row in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname ~ '^x[0-9a-f]{6}_[a-z]+$'"
            ):
                await conn.execute(f'DROP DATABASE IF EXISTS "{row[0]}" WITH (FORCE)')
            for service in SERVICES:
                name = f"{self.run_id}_{service}"
                await conn.execute(f'CREATE DATABASE "{name}"')
                self.db_urls[service] = f"{self.infra.pg_url}/{name}"
        finally:
            await conn.close()

    def _topics(self) -> None:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "PROPFEE_TOPIC_PREFIX": self.prefix,
        }
        production = ["--production"] if self.infra.cluster else []  # RF 3, min ISR 2
        subprocess.run(
            [sys.executable, "-m", "propfee.admin", "topics", *production],
            env=env,
            check=True,
            capture_output=True,
            timeout=180,
        )

    # -- services ------------------------------------------------------------------------

    def launch(self, name: str) -> None:
        """Start (or restart) a service's process, without waiting for it to be ready."""
        process = self.services[name]
        wrapper = self.wrappers.get(name)
        if not wrapper:
            process.start(wait=False)
            return
        log = process.log_path.open("ab")
        process.process = subprocess.Popen(
            [*wrapper, sys.executable, "-m", name, "serve"],
            env=process.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    async def ready(self, name: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                r = await http.get(f"{self.services[name].url}/readyz")
                return r.status_code == 200
        except httpx.HTTPError:
            return False

    async def wait_all_ready(self, timeout_s: float = 240) -> float:
        """Seconds until every service answers ready."""
        t = time.monotonic()
        while True:
            states = await asyncio.gather(*(self.ready(n) for n in SERVICES))
            if all(states):
                return time.monotonic() - t
            for name in SERVICES:
                p = self.services[name].process
                if p is not None and p.poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{self.services[name].log_tail()}")
            if time.monotonic() - t > timeout_s:
                down = [n for n, ok in zip(SERVICES, states, strict=True) if not ok]
                raise TimeoutError(f"not ready after {timeout_s:.0f} s: {down}")
            await asyncio.sleep(0.25)

    # -- load ----------------------------------------------------------------------------

    async def run_days(self, n: int) -> None:
        assert self.sim is not None
        for _ in range(n):
            await self.sim.simulate_day(self.day)
            self.day += timedelta(days=1)
            self.days_run += 1

    async def settle(self, timeout_s: float = 240) -> float:
        """Seconds until every outbox is empty and every consumer group at the end."""
        assert self.sim is not None
        t = time.monotonic()
        await self.sim.settle.settle(timeout_s)
        await self.sim.feed.drain()
        return time.monotonic() - t

    # -- stop ----------------------------------------------------------------------------

    async def stop(self) -> None:
        if self.sim is not None:
            for part in (self.sim.feed, self.sim.settle):
                try:
                    await asyncio.wait_for(part.stop(), timeout=20)
                except Exception:
                    pass
        if self.api is not None:
            await self.api.close()
        for process in self.services.values():
            try:
                process.stop(timeout=15)
            except Exception:
                pass
        if self.sandbox is not None:
            self.sandbox.stop()

    def log_paths(self) -> dict[str, Path]:
        return {name: p.log_path for name, p in self.services.items()}
