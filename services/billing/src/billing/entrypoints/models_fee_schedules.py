"""Answers of the fee-schedule routes (their bodies: ``models.ScheduleIn``...)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DECIMAL_TEXT = r"^-?\d+(\.\d+)?$"


class FeeItemOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "water",
                    "name": "水费",
                    "kind": "metered",
                    "unit_type": "*",
                    "rate_fen": "410",
                    "pass_through": True,
                    "supplier_tariff_fen": "410.0000",
                    "tariff_source": "杭价〔2025〕3号",
                }
            ]
        }
    )

    code: str
    name: str
    kind: Literal["area", "fixed", "parking", "metered", "shared_meter", "one_off"]
    unit_type: str = Field(description='a unit type, or "*" for every type')
    rate_fen: str = Field(
        pattern=DECIMAL_TEXT,
        description="fen per m² per month, per month, or per unit used: a decimal as text "
        "(a rate may hold fractions of a fen)",
    )
    pass_through: bool
    supplier_tariff_fen: str | None = Field(default=None, pattern=DECIMAL_TEXT)
    tariff_source: str | None = None


class FeeScheduleOut(BaseModel):
    """One published version of a community's schedule (明码标价)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "schedule_id": "sch-5f1c2a",
                    "version": 1,
                    "published_on": "2025-01-01",
                    "effective_from": "2025-02-01",
                    "approval_ref": "业委会2025-01号",
                    "pricing_type": "market",
                    "service_level": "二级",
                    "legal_basis": "",
                    "complaint_line": "12345",
                    "items": [
                        {
                            "code": "property_fee",
                            "name": "物业服务费",
                            "kind": "area",
                            "unit_type": "*",
                            "rate_fen": "250",
                            "pass_through": False,
                            "supplier_tariff_fen": None,
                            "tariff_source": None,
                        }
                    ],
                }
            ]
        }
    )

    schedule_id: str
    version: int
    published_on: date
    effective_from: date
    approval_ref: str
    pricing_type: str
    service_level: str
    legal_basis: str
    complaint_line: str
    items: list[FeeItemOut]


class ScheduleVersionRef(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"schedule_id": "sch-5f1c2a", "version": 2}]}
    )

    schedule_id: str
    version: int


class ScheduleImportOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "imported": [{"schedule_id": "sch-5f1c2a", "version": 1}],
                    "approval_ref": "公司2025-07号",
                }
            ]
        }
    )

    imported: list[ScheduleVersionRef]
    approval_ref: str
