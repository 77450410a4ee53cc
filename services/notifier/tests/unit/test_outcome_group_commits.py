"""The dispatcher's outcomes are written in group commits (issue 22): each write takes every
answer that arrived while the one before ran; a sender returns only once its own answer is
written; a group that fails by itself is written again answer by answer, so one bad answer
fails alone; a database that stays away fails the group's senders (recovery's lease then)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from notifier.adapters.base import SendResult
from notifier.service_layer.dispatcher import DispatchReport, _Outcomes

OK = SendResult("sent", "alibaba", "biz-1")


def answer(n: int) -> Any:
    return SimpleNamespace(row={"notification_id": f"n-{n}"})


class Writes:
    """Stands for ``_Outcomes._write_group``: records each group, takes a little time."""

    def __init__(self, bad: set[str] | None = None, away: bool = False) -> None:
        self.groups: list[list[str]] = []
        self.bad = bad or set()
        self.away = away

    async def __call__(self, answers: list[tuple[Any, SendResult]]) -> None:
        ids = [x.row["notification_id"] for x, _ in answers]
        self.groups.append(ids)
        await asyncio.sleep(0.01)
        if self.away:
            raise asyncpg.PostgresConnectionError("gone")
        if self.bad & set(ids):
            raise ValueError("a bad row")


def outcomes(monkeypatch: pytest.MonkeyPatch, writes: Writes) -> _Outcomes:
    recorder = _Outcomes(SimpleNamespace(), datetime(2026, 3, 9, tzinfo=UTC), DispatchReport())  # type: ignore[arg-type]
    monkeypatch.setattr(recorder, "_write_group", writes)
    return recorder


async def test_answers_arriving_during_a_write_share_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes = Writes()
    recorder = outcomes(monkeypatch, writes)

    async def later(n: int) -> None:
        await asyncio.sleep(0.002)  # the first write is under way
        await recorder.record(answer(n), OK)

    await asyncio.gather(recorder.record(answer(0), OK), *(later(n) for n in range(1, 10)))
    assert writes.groups == [["n-0"], [f"n-{n}" for n in range(1, 10)]]


async def test_answers_arriving_together_are_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    writes = Writes()
    recorder = outcomes(monkeypatch, writes)
    await asyncio.gather(*(recorder.record(answer(n), OK) for n in range(10)))
    assert writes.groups == [[f"n-{n}" for n in range(10)]]


async def test_a_sender_returns_only_once_its_answer_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes = Writes()
    recorder = outcomes(monkeypatch, writes)
    await recorder.record(answer(1), OK)
    assert writes.groups == [["n-1"]]


async def test_a_bad_answer_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    writes = Writes(bad={"n-3"})
    recorder = outcomes(monkeypatch, writes)
    results = await asyncio.gather(
        *(recorder.record(answer(n), OK) for n in range(5)), return_exceptions=True
    )
    failed = [n for n, r in enumerate(results) if isinstance(r, Exception)]
    assert failed == [3]
    # The group, then one by one.
    assert writes.groups == [[f"n-{n}" for n in range(5)], *([f"n-{n}"] for n in range(5))]


async def test_a_database_that_stays_away_fails_the_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes = Writes(away=True)
    recorder = outcomes(monkeypatch, writes)
    results = await asyncio.gather(
        *(recorder.record(answer(n), OK) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, asyncpg.PostgresConnectionError) for r in results)
    assert writes.groups == [["n-0", "n-1", "n-2"]]  # never one by one: it is away
