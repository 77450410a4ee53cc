"""The bills the households receive, read from billing's public event topics.

An owner learns what he owes from the bill (the notifier's message); the simulator reads the
same facts from ``billing.invoice-issued`` and ``billing.late-fee-assessed``, the topics any
subscriber may read, instead of asking each household's statement every day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from demo.settle import partitions_of
from propfee.events import InvoiceIssued, InvoiceSettled, LateFeeAssessed
from propfee.kafka import client_kwargs


@dataclass
class Bill:
    invoice_id: str
    unit_id: str
    total_fen: int
    due_date: date
    period_start: date
    opening: bool
    late_fee_fen: int = 0
    settled_at: datetime | None = None  # billing's word: paid in full at this instant


@dataclass
class Bills:
    by_unit: dict[str, dict[str, Bill]] = field(default_factory=dict)

    def add(self, bill: Bill) -> bool:
        known = self.by_unit.setdefault(bill.unit_id, {})
        fresh = bill.invoice_id not in known
        known.setdefault(bill.invoice_id, bill)
        return fresh


class Feed:
    def __init__(self, bootstrap: str, prefix: str, community_id: str) -> None:
        self.topics = [
            prefix + InvoiceIssued.topic(),
            prefix + LateFeeAssessed.topic(),
            prefix + InvoiceSettled.topic(),
        ]
        self.settled_topic = self.topics[2]
        self.issued_topic = self.topics[0]
        self.community_id = community_id
        self.bootstrap = bootstrap
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **client_kwargs()
        )
        self.partitions: list[TopicPartition] = []
        self.bills = Bills()

    async def start(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **client_kwargs())
        await admin.start()
        try:
            self.partitions = await partitions_of(admin, self.topics)
        finally:
            await admin.close()
        await self.consumer.start()
        self.consumer.assign(self.partitions)
        await self.consumer.seek_to_beginning(*self.partitions)

    async def stop(self) -> None:
        await self.consumer.stop()

    async def drain(self) -> int:
        """Read everything published so far; returns the number of new bills."""
        ends = await self.consumer.end_offsets(self.partitions)
        fresh = 0
        while [tp for tp, end in ends.items() if await self._position(tp) < end]:
            batches = await self.consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    fresh += self._apply(tp.topic, record.value)
        return fresh

    async def _position(self, tp: TopicPartition) -> int:
        return await self.consumer.position(tp)

    def _apply(self, topic: str, value: bytes | None) -> int:
        if value is None:
            return 0
        data = orjson.loads(value)
        if data.get("community_id") != self.community_id:
            return 0
        if topic == self.issued_topic:
            return int(
                self.bills.add(
                    Bill(
                        invoice_id=data["invoice_id"],
                        unit_id=data["unit_id"],
                        total_fen=int(data["total_fen"]),
                        due_date=date.fromisoformat(data["due_date"]),
                        period_start=date.fromisoformat(data["period_start"]),
                        opening=any(
                            line.get("fee_item") == "opening_arrears"
                            for line in data.get("lines", [])
                        ),
                    )
                )
            )
        bill = self.bills.by_unit.get(data["unit_id"], {}).get(data["invoice_id"])
        if bill is None:
            return 0
        if topic == self.settled_topic:
            bill.settled_at = datetime.fromisoformat(data["settled_at"])
        else:
            bill.late_fee_fen = max(bill.late_fee_fen, int(data["late_fee_fen"]))
        return 0
