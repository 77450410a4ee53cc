from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal

import asyncpg
import pytest_asyncio

from billing.domain.schedule import FeeItem
from billing.service_layer.registry import CommunityIn, upsert_community
from billing.service_layer.schedules import VersionIn, import_schedules
from propfee.db import create_pool, migrate_database

COMMUNITY = "c-002"
ITEMS = (
    FeeItem("property_fee", "物业服务费", "area", Decimal("250"), "residential"),
    FeeItem("property_fee", "物业服务费", "area", Decimal("480"), "shop"),
    FeeItem("parking", "车位管理费", "parking", Decimal("30000")),
    FeeItem(
        "water",
        "水费",
        "metered",
        Decimal("410"),
        pass_through=True,
        supplier_tariff_fen=Decimal("410"),
        tariff_source="杭州水务 杭价〔2024〕3号",
    ),
    FeeItem(
        "stair_light",
        "公共照明电费",
        "shared_meter",
        Decimal("65"),
        pass_through=True,
        supplier_tariff_fen=Decimal("65"),
        tariff_source="国网杭州供电公司 居民电价表",
    ),
    FeeItem("repair_visit", "有偿维修上门", "one_off", Decimal("5000")),
)


@pytest_asyncio.fixture
async def billing_pool(create_database) -> AsyncIterator[asyncpg.Pool]:  # type: ignore[no-untyped-def]
    dsn = await create_database("billing")
    await migrate_database(dsn, "billing")
    pool = await create_pool(dsn, max_size=8)
    yield pool
    await pool.close()


async def setup_community(
    pool: asyncpg.Pool, *, late_fee: Decimal | None = Decimal("0.0001")
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await upsert_community(
            conn,
            COMMUNITY,
            CommunityIn(
                company_id="co-1",
                company_name="示例物业公司",
                name="阳光花园",
                city="杭州",
                late_fee_daily_rate=late_fee,
                contract_end=date(2027, 12, 31),
            ),
            datetime(2024, 12, 1, tzinfo=UTC),
        )
        await conn.execute(
            "INSERT INTO company_vacancy_rules (company_id, city, after_months, payable_share) "
            "VALUES ('co-1', '杭州', 6, 0.70) ON CONFLICT DO NOTHING"
        )
        # The schedule the community had before it came to Propfee, with its original dates.
        await import_schedules(
            conn,
            COMMUNITY,
            [
                VersionIn(
                    published_on=date(2024, 11, 1),
                    effective_from=date(2024, 12, 1),
                    approval_ref="杭价〔2024〕7号",
                    items=ITEMS,
                    pricing_type="政府指导价",
                    service_level="二级",
                    legal_basis="《物业服务收费管理办法》",
                    complaint_line="12345",
                )
            ],
            approval_ref="董事会决议〔2024〕3号",
            imported_by="test",
            today=date.today(),
        )
