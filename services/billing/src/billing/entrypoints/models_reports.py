"""Answers of the receivable reports and the receipt's JSON."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from propfee.aging import AgingBucket


class CollectionRowOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "2025-01",
                    "collection": "property",
                    "billed_fen": 600000,
                    "collected_fen": 540000,
                    "collection_rate": 0.9,
                    "households": 24,
                }
            ]
        }
    )

    key: str | None = Field(description="the community, building, fee item or month (YYYY-MM)")
    collection: Literal["property", "utilities"]
    billed_fen: int
    collected_fen: int
    collection_rate: float | None = Field(description="collected / billed; null when nothing")
    households: int


class OnTimeRowOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"key": "2025-01", "households": 24, "on_time": 20, "on_time_rate": 0.8333}
            ]
        }
    )

    key: str | None
    households: int
    on_time: int
    on_time_rate: float | None


class AgingBucketOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "bucket": "31-90",
                    "outstanding_fen": 75000,
                    "property_fen": 70000,
                    "utilities_fen": 5000,
                    "households": 3,
                    "invoices": 4,
                }
            ]
        }
    )

    key: str | None = Field(
        default=None,
        description="the building, fee item or month (YYYY-MM) with ``by``; null without",
    )
    bucket: AgingBucket
    outstanding_fen: int
    property_fen: int
    utilities_fen: int
    households: int
    invoices: int


class UnitAgingOut(BaseModel):
    """One household's aging: its outstanding principal by days past due, five buckets."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "unit_id": "u-3a9d",
                    "as_of": "2025-02-15",
                    "buckets": [
                        {
                            "key": None,
                            "bucket": "31-90",
                            "outstanding_fen": 75000,
                            "property_fen": 70000,
                            "utilities_fen": 5000,
                            "households": 1,
                            "invoices": 2,
                        }
                    ],
                }
            ]
        }
    )

    unit_id: str
    as_of: date
    buckets: list[AgingBucketOut] = Field(description="the five buckets, in age order")


class RecoveryOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "opening_fen": 1_200_000,
                    "recovered_fen": 300_000,
                    "households": 12,
                    "recovery_rate": 0.25,
                }
            ]
        }
    )

    opening_fen: int
    recovered_fen: int
    households: int
    recovery_rate: float | None


class ReceiptOut(BaseModel):
    """The numbered receipt of a payment, as data."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "receipt_no": "R2025-0000012",
                    "number": "R2025-0000012",
                    "community_id": "c-1",
                    "payment_id": "pay-77",
                    "unit_id": "u-3a9d",
                    "amount_fen": 25000,
                    "channel": "wechat",
                    "paid_at": "2025-01-15T10:00:00+08:00",
                }
            ]
        }
    )

    receipt_no: str
    number: str
    community_id: str
    payment_id: str
    unit_id: str
    amount_fen: int
    channel: str
    paid_at: datetime
