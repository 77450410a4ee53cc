"""Run a plan: start the suite's infrastructure and the system, then for each fault run the
load, strike, heal, wait until the system has converged, and count."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaos.checks import run_checks
from chaos.faults import (
    Combined,
    CutLink,
    Fault,
    KillBroker,
    KillService,
    Poison,
    RestartPostgres,
)
from chaos.infra import ChaosInfra
from chaos.system import System


@dataclass
class Plan:
    name: str
    faults: list[Fault]
    households: int = 60
    cluster: bool = True
    warmup_days: int = 3
    days_after: int = 2  # simulated days of load after the heal, before converging
    netns: bool = True

    def describe(self) -> list[str]:
        return [f.name for f in self.faults]


def full_plan(cluster: bool = True, netns: bool = True) -> Plan:
    faults: list[Fault] = [
        KillService(service="billing"),  # billing's runs come once a month: any moment
        KillService(service="payments", during="POST /webhooks/"),
        KillService(service="dunning", during="POST /sweeps"),
        KillService(service="notifier", during="POST /dispatch", after_send=True),
        KillBroker(controller=False),
        KillBroker(controller=True),
        RestartPostgres(),
        Poison(),
    ]
    if netns:
        faults += [
            CutLink(service="payments", target="kafka"),
            CutLink(service="billing", target="postgres"),
            CutLink(service="notifier", target="kafka"),
            CutLink(service="dunning", target="postgres"),
        ]
    faults += [
        Combined(
            parts=[
                KillService(service="payments", during="POST /webhooks/"),
                KillBroker(controller=False),
            ]
        ),
        Combined(
            parts=[KillService(service="notifier", during="POST /dispatch"), RestartPostgres()]
        ),
        Combined(
            parts=[
                KillBroker(controller=True),
                KillService(service="dunning"),
                KillService(service="billing"),
                *([CutLink(service="payments", target="postgres")] if netns else []),
            ]
        ),
    ]
    return Plan("full", faults, cluster=cluster, netns=netns)


def reduced_plan(cluster: bool = True, netns: bool = True) -> Plan:
    """One fault of each kind (the test suite's run)."""
    faults: list[Fault] = [
        KillService(service="payments", during="POST /webhooks/"),
        KillBroker(controller=True, down_s=5),
        RestartPostgres(down_s=1),
        Poison(topic="payments.payment-received"),
    ]
    if netns:
        faults.append(CutLink(service="payments", target="kafka", down_s=5))
    faults.append(
        Combined(
            parts=[
                KillService(service="notifier", during="POST /dispatch", after_send=True),
                KillBroker(),
            ],
            down_s=5,
        )
    )
    return Plan(
        "reduced", faults, households=30, cluster=cluster, warmup_days=2, days_after=1, netns=netns
    )


@dataclass
class Outcome:
    fault: str
    kind: str
    trigger: str = ""
    injected: str = ""
    down_s: float = 0.0
    healed_s: float | None = None  # injection → the repair done (restarted, link up)
    recovered_s: float | None = None  # injection → every service ready and caught up
    converged_s: float | None = None  # end of the load → lag 0, outboxes empty
    days: int = 0
    payments: int = 0
    api_retries: int = 0
    checks: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def lost(self) -> int:
        return sum(c["lost"] for c in self.checks)

    @property
    def duplicated(self) -> int:
        return sum(c["duplicated"] for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "lost": self.lost, "duplicated": self.duplicated}


async def _payments(system: System) -> int:
    assert system.sim is not None
    return sum(len(ps) for ps in system.sim.paid.values())


async def _caught_up(system: System, waits: int, task: asyncio.Task[None]) -> None:
    """Until the load's own next look finds the system caught up (or the load ended)."""
    assert system.sim is not None
    while system.sim.settle.waits == waits and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.1)


async def run_fault(system: System, fault: Fault, days_after: int) -> Outcome:
    assert system.api is not None and system.sim is not None
    out = Outcome(fault.name, fault.kind, down_s=fault.down_s)
    days0, pay0, retries0 = (
        system.days_run,
        await _payments(system),
        sum(system.api.retried.values()),
    )
    stop_at: list[int] = []

    async def load() -> None:
        while not stop_at or system.days_run < stop_at[0]:
            await system.run_days(1)

    task = asyncio.create_task(load())
    try:
        out.trigger = await fault.trigger(system)
        if task.done():
            task.result()  # the load failed before the fault: say so
        t0 = time.monotonic()
        out.injected = await fault.inject(system)
        await asyncio.sleep(fault.down_s)
        await fault.heal(system)
        out.healed_s = round(time.monotonic() - t0, 1)
        waits = system.sim.settle.waits
        await system.wait_all_ready()
        await _caught_up(system, waits, task)
        if task.done():
            task.result()
        out.recovered_s = round(time.monotonic() - t0, 1)
        stop_at.append(system.days_run + days_after)
        await task
        out.converged_s = round(await system.settle(), 1)
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}"[:2000]
        task.cancel()
        try:
            await task
        except BaseException:
            pass
        try:  # what can still be counted
            await system.wait_all_ready(120)
            await system.settle(120)
        except Exception as again:
            out.error += f"; then: {type(again).__name__}: {again}"[:1000]
    out.days = system.days_run - days0
    out.payments = await _payments(system) - pay0
    out.api_retries = sum(system.api.retried.values()) - retries0
    out.checks = [c.as_dict() for c in await run_checks(system)]
    return out


def say(text: str) -> None:
    print(f"chaos: {datetime.now(UTC):%H:%M:%S} {text}", flush=True)


@dataclass(frozen=True)
class Site:
    """Where a run lives: its home and ports (``make chaos`` and the reduced test differ, so
    that both may run at once), and the tag/numbering of its network namespaces."""

    home: Path
    pg_port: int = 55532
    kafka_port: int = 9392
    cluster_port_base: int = 9492
    netns_tag: str = "m"
    netns_base: int = 0


async def run_plan(plan: Plan, site: Site) -> dict[str, Any]:
    started = time.monotonic()
    home = site.home
    infra = ChaosInfra(
        home,
        cluster=plan.cluster,
        pg_port=site.pg_port,
        kafka_port=site.kafka_port,
        cluster_port_base=site.cluster_port_base,
    )
    report: dict[str, Any] = {
        "plan": plan.name,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cluster": "3-broker KRaft (RF 3, min ISR 2)" if plan.cluster else "1 broker",
        "households": plan.households,
        "faults": [],
    }
    say(f"plan {plan.name}: {len(plan.faults)} faults; infrastructure under {home}")
    infra.start()
    system = System(infra, households=plan.households)
    netns = None
    try:
        if plan.netns:
            from chaos.netns import Netns

            netns = Netns(infra, system, site.netns_tag, site.netns_base)
            system.netns = netns  # System.start wires the namespaces
        t = time.monotonic()
        await system.start()
        report["startup_s"] = round(time.monotonic() - started, 1)
        say(f"system up ({time.monotonic() - t:.0f} s); warm-up {plan.warmup_days} days")
        await system.run_days(plan.warmup_days)
        await system.settle()
        baseline = Outcome("no fault (warm-up)", "baseline", days=system.days_run)
        baseline.checks = [c.as_dict() for c in await run_checks(system)]
        report["faults"].append(
            {
                **baseline.as_dict(),
                "new_lost": baseline.lost,
                "new_duplicated": baseline.duplicated,
            }
        )
        for fault in plan.faults:
            say(f"fault: {fault.name}")
            before = report["faults"][-1]
            out = await run_fault(system, fault, plan.days_after)
            row = out.as_dict()
            # The checks count everything since the start; what this fault added:
            row["new_lost"] = max(0, out.lost - before["lost"])
            row["new_duplicated"] = max(0, out.duplicated - before["duplicated"])
            report["faults"].append(row)
            say(
                f"  recovered {out.recovered_s} s, converged {out.converged_s} s, "
                f"{out.days} days, {out.payments} payments, lost {out.lost}, "
                f"duplicated {out.duplicated}" + (f", ERROR {out.error}" if out.error else "")
            )
        report["days"] = system.days_run
        report["api_retries"] = dict(system.api.retried) if system.api else {}
    finally:
        await system.stop()
        if netns is not None:
            netns.teardown()
        infra.stop()
        report["infra_log"] = infra.log
        report["run_dir"] = str(system.dir)
    report["duration_s"] = round(time.monotonic() - started, 1)
    last = report["faults"][-1] if report["faults"] else {"lost": 0, "duplicated": 0}
    report["lost"] = last["lost"]  # the checks are cumulative: the last counts cover all
    report["duplicated"] = last["duplicated"]
    report["errors"] = sum(1 for f in report["faults"] if f.get("error"))
    report["ok"] = report["lost"] == 0 and report["duplicated"] == 0 and report["errors"] == 0
    return report
