"""The faults: what is broken, when (a trigger: a call in flight), for how long, and how it
heals. One at a time, or several at once (:class:`Combined`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """Base: ``inject`` breaks, ``heal`` repairs; ``down_s`` between the two."""

    down_s: float = 0.0

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def kind(self) -> str:
        raise NotImplementedError

    async def trigger(self, system: Any) -> str:
        """Wait for the moment to strike; say what it was."""
        await asyncio.sleep(1.5)
        return "1.5 s into the load"

    async def inject(self, system: Any) -> str:
        raise NotImplementedError

    async def heal(self, system: Any) -> None:
        raise NotImplementedError


@dataclass
class KillService(Fault):
    """kill -9 of a service's process, restarted ``down_s`` later (a pod's restart)."""

    service: str = "billing"
    during: str | None = None  # a call of the load to strike in: "POST /webhooks/"
    down_s: float = 1.0
    #: With ``during``: strike once a provider (the sandbox) accepted a message since the
    #: call began: notifier mid-dispatch, between the provider's answer and its own commit.
    after_send: bool = False

    @property
    def name(self) -> str:
        during = f" mid-{self.during.split('/')[1]}" if self.during else ""
        if self.after_send:
            during += " (after a provider accepted)"
        return f"kill -9 {self.service}{during}"

    @property
    def kind(self) -> str:
        return "service kill"

    async def trigger(self, system: Any) -> str:
        if self.during is None:
            return await super().trigger(system)
        for _ in range(20):  # a dispatch that sends nothing is no "mid-dispatch"
            seen = len(await asyncio.to_thread(system.sandbox.messages, 0))
            if not await system.api.wait_busy(self.service, self.during, timeout_s=90):
                break
            if not self.after_send:
                await asyncio.sleep(0.02)  # inside the handler, not at the door
                return f"while {self.during}… was in flight"
            for _ in range(200):
                if len(await asyncio.to_thread(system.sandbox.messages, seen)) > 0:
                    return f"while {self.during}… was in flight, after a provider accepted"
                if not system.api.busy(self.service, self.during):
                    break
                await asyncio.sleep(0.01)
            while system.api.busy(self.service, self.during):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        return f"no {self.during} in flight within 90 s; struck anyway"

    async def inject(self, system: Any) -> str:
        process = system.services[self.service]
        pid = process.process.pid if process.process else None
        process.kill()
        return f"SIGKILL pid {pid}"

    async def heal(self, system: Any) -> None:
        system.launch(self.service)


@dataclass
class KillBroker(Fault):
    """kill -9 of one Kafka broker (``controller``: the KRaft quorum leader), restarted
    ``down_s`` later."""

    controller: bool = False
    down_s: float = 10.0
    node: int = field(default=0, init=False)

    @property
    def name(self) -> str:
        return "kill -9 the controller (quorum leader)" if self.controller else "kill -9 a broker"

    @property
    def kind(self) -> str:
        return "controller kill" if self.controller else "broker kill"

    async def inject(self, system: Any) -> str:
        infra = system.infra
        leader = await asyncio.to_thread(infra.controller)
        if self.controller:
            self.node = leader
        else:
            others = [n for n in infra.brokers if n != leader]
            self.node = others[system.days_run % len(others)] if others else leader
        await asyncio.to_thread(infra.kill_broker, self.node)
        return f"node {self.node} (leader was {leader})"

    async def heal(self, system: Any) -> None:
        await asyncio.to_thread(system.infra.start_broker, self.node)


@dataclass
class RestartPostgres(Fault):
    """The suite's PostgreSQL stopped (fast shutdown: every connection cut) and started."""

    down_s: float = 3.0

    @property
    def name(self) -> str:
        return "PostgreSQL restart"

    @property
    def kind(self) -> str:
        return "database restart"

    async def inject(self, system: Any) -> str:
        await asyncio.to_thread(system.infra.sh, "stop-postgres")
        return "pg_ctl stop -m fast"

    async def heal(self, system: Any) -> None:
        await asyncio.to_thread(system.infra.sh, "start-postgres")


@dataclass
class CutLink(Fault):
    """The link between a service and Kafka or PostgreSQL cut (the service runs in a network
    namespace of the suite; the veth to the host goes down), healed ``down_s`` later."""

    service: str = "payments"
    target: str = "kafka"  # kafka | postgres
    down_s: float = 10.0

    @property
    def name(self) -> str:
        return f"cut {self.service} ↔ {self.target}"

    @property
    def kind(self) -> str:
        return "link cut"

    async def inject(self, system: Any) -> str:
        await asyncio.to_thread(system.netns.cut, self.service, self.target)
        return f"veth of {self.service}'s namespace down for {self.target}"

    async def heal(self, system: Any) -> None:
        await asyncio.to_thread(system.netns.heal, self.service, self.target)


@dataclass
class Combined(Fault):
    """Several faults at once: each injected at its own trigger, all healed together."""

    parts: list[Fault] = field(default_factory=list)
    down_s: float = 10.0

    @property
    def name(self) -> str:
        return " + ".join(p.name for p in self.parts)

    @property
    def kind(self) -> str:
        return "combined"

    async def trigger(self, system: Any) -> str:
        return await self.parts[0].trigger(system)

    async def inject(self, system: Any) -> str:
        notes = [await self.parts[0].inject(system)]
        for part in self.parts[1:]:
            notes.append(await part.inject(system))
        return "; ".join(notes)

    async def heal(self, system: Any) -> None:
        for part in self.parts:
            await part.heal(system)


@dataclass
class Poison(Fault):
    """A malformed record published on purpose to a topic every subscriber of which must
    dead-letter it (one DLQ record per subscribed group) and move on."""

    topic: str = "billing.invoice-issued"

    @property
    def name(self) -> str:
        return f"poison record on {self.topic}"

    @property
    def kind(self) -> str:
        return "poison record"

    async def inject(self, system: Any) -> str:
        from aiokafka import AIOKafkaProducer

        from propfee.kafka import client_kwargs
        from propfee.topics import SUBSCRIPTIONS

        producer = AIOKafkaProducer(bootstrap_servers=system.bootstrap, **client_kwargs())
        await producer.start()
        try:
            await producer.send_and_wait(
                system.prefix + self.topic,
                b"{not json",
                key=b"poison",
                headers=[("ce_id", b"poison"), ("ce_type", b"propfee.billing.InvoiceIssued.v1")],
            )
        finally:
            await producer.stop()
        groups = [g for g, es in SUBSCRIPTIONS.items() if any(e.topic() == self.topic for e in es)]
        system.poisoned += len(groups)
        return f"1 record; expected in the DLQ of {', '.join(groups)}"

    async def heal(self, system: Any) -> None:
        return None
