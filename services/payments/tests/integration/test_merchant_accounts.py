"""Gateway-level records belong to a merchant account and so to a company (issue 16, item 3).

Two companies share one deployment: the WeChat Pay merchant account is co-1's, the Alipay one
co-2's. Money for an order payments never issued (an exception without a community), the
statements and their discrepancies and the daily close are each company's alone: the other
company's company-wide finance token sees none of them and gets 404 on resolving them, and its
attempts change nothing. A record written before merchant accounts had companies is given its
gateway's configured account at start."""

from __future__ import annotations

from datetime import timedelta, timezone

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities, wechat_env

from propfee.auth import Role
from sandbox import alipay
from sandbox.keys import new_key, public_base64, write
from sandbox.wechatpay import MCHID, WechatSide, transaction
from tests.support.auth import BearerAuth

pytestmark = pytest.mark.integration

CST = timezone(timedelta(hours=8))
DAY = "2026-03-05"
WECHAT_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n"
)
ALIPAY_HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
    "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,"
    "商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,"
    "退款批次号/请求号,服务费（元）,分润（元）,备注\n"
)
WECHAT_STATEMENT = (
    WECHAT_HEADER
    + f"`{DAY} 10:05:00,`wxd678efh567hg6787,`{MCHID},`0,`,`4200009999,`P-never,`oUpF8uMu,"
    "`NATIVE,`SUCCESS,`CMC,`CNY,`1.00,`0.00,`0,`0,`0.00,`0.00,`,`,`物业费,`,`0.01,`0.60%,"
    "`1.00,`0.00,`\n"
).encode()
ALIPAY_STATEMENT = (
    ALIPAY_HEADER
    + f"2026030522001499999\t,P-never-ali\t,交易,物业费,{DAY} 10:00:00,{DAY} 10:06:00,,,,,"
    "159****5620,2.00,2.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.01,0.00,\n"
).encode()


def finance(dev_issuer, company: str, communities: list[str] | str = "*") -> BearerAuth:  # type: ignore[no-untyped-def]
    return BearerAuth(
        dev_issuer.mint(f"fin-{company}", [Role.finance, Role.company_admin], company, communities)
    )


async def _counts(conn: asyncpg.Connection) -> tuple[int, ...]:
    return tuple(
        await conn.fetchrow(
            "SELECT (SELECT count(*) FROM payment_exceptions WHERE status = 'open'), "
            "(SELECT count(*) FROM discrepancies WHERE status = 'open'), "
            "(SELECT count(*) FROM statement_imports), (SELECT count(*) FROM audit_log), "
            "(SELECT count(*) FROM payments)"
        )
    )


async def test_gateway_level_records_are_their_merchant_accounts_company(
    services, create_database, tmp_path, dev_issuer
) -> None:  # type: ignore[no-untyped-def]
    side, alipay_key = WechatSide(), new_key()
    db = await create_database("payments")
    proc = services(
        "payments",
        db,
        **wechat_env(side, tmp_path, company_id="co-1"),
        alipay_app_id=alipay.APP_ID,
        alipay_seller_id=alipay.SELLER_ID,
        alipay_company_id="co-2",
        alipay_public_key_file=write(tmp_path / "alipay_pub.txt", public_base64(alipay_key)),
    ).start()
    await know_communities(db, "c-1")
    await know_communities(db, "c-x", company_id="co-2")
    conn = await asyncpg.connect(db)
    one, two = finance(dev_issuer, "co-1"), finance(dev_issuer, "co-2")
    async with httpx.AsyncClient(base_url=proc.url, timeout=30) as http:
        # Money for orders payments never issued, into each company's merchant account.
        body = side.body("TRANSACTION.SUCCESS", transaction("P-unknown-wx", 100))
        r = await http.post("/webhooks/wechatpay", content=body, headers=side.headers(body))
        assert r.status_code == 204, r.text
        r = await http.post(
            "/webhooks/alipay",
            content=alipay.signed_form(alipay.notification("P-unknown-ali", "2.00"), alipay_key),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        assert r.text == "success"
        stored = {
            r["gateway"]: (r["merchant_id"], r["company_id"])
            for r in await conn.fetch("SELECT * FROM payment_exceptions")
        }
        assert stored == {"wechatpay": (MCHID, "co-1"), "alipay": (alipay.APP_ID, "co-2")}

        # Statements: each company imports its own account's; the other's is not found,
        # named or inferred.
        r = await http.post(f"/reconciliation/wechatpay/{DAY}", content=WECHAT_STATEMENT, auth=one)
        assert r.status_code == 200, r.text
        assert r.json()["merchant_id"] == MCHID and r.json()["missing_here"] == 1
        r = await http.post(f"/reconciliation/alipay/{DAY}", content=ALIPAY_STATEMENT, auth=two)
        assert r.status_code == 200, r.text
        before = await _counts(conn)
        for url, auth in (
            (f"/reconciliation/wechatpay/{DAY}", two),
            (f"/reconciliation/wechatpay/{DAY}?merchant_id={MCHID}", two),
            (f"/reconciliation/alipay/{DAY}?merchant_id={alipay.APP_ID}", one),
            (f"/reconciliation/alipay/{DAY}", one),
        ):
            r = await http.post(url, content=WECHAT_STATEMENT, auth=auth)
            assert r.status_code == 404, f"{url}: {r.status_code} {r.text}"

        # Lists: each company sees its own records only.
        async def listed(path: str, auth: BearerAuth) -> list[tuple[str, str]]:
            r = await http.get(path, auth=auth)
            assert r.status_code == 200, r.text
            return [(x["gateway"], x["merchant_id"]) for x in r.json()["items"]]

        assert await listed("/exceptions", one) == [("wechatpay", MCHID)]
        assert await listed("/exceptions", two) == [("alipay", alipay.APP_ID)]
        assert await listed("/discrepancies", one) == [("wechatpay", MCHID)]
        assert await listed("/discrepancies", two) == [("alipay", alipay.APP_ID)]
        # A token naming its communities sees no gateway-level record at all.
        scoped = finance(dev_issuer, "co-1", ["c-1"])
        assert await listed("/exceptions", scoped) == []
        assert await listed("/discrepancies", scoped) == []

        # The daily close: the company's statements, discrepancies and exceptions only.
        for auth, gateway in ((one, "wechatpay"), (two, "alipay")):
            r = await http.get("/reports/daily-close", params={"day": DAY}, auth=auth)
            assert r.status_code == 200, r.text
            close = r.json()
            assert [s["gateway"] for s in close["statements"]] == [gateway]
            assert close["open_discrepancies"] == 1 and close["open_exceptions"] == 1
            totals = (await http.get("/reports/totals", auth=auth)).json()
            assert totals["exceptions_open"]["count"] == 1

        # Resolving the other company's records: 404, nothing changes.
        wx_exception = await conn.fetchval(
            "SELECT exception_id FROM payment_exceptions WHERE gateway = 'wechatpay'"
        )
        wx_discrepancy = await conn.fetchval(
            "SELECT discrepancy_id FROM discrepancies WHERE gateway = 'wechatpay'"
        )
        r = await http.post(
            f"/exceptions/{wx_exception}/resolve",
            json={"resolution": "dismissed", "note": "not ours"},
            auth=two,
        )
        assert r.status_code == 404 and r.json()["detail"].endswith("not found"), r.text
        r = await http.post(
            f"/discrepancies/{wx_discrepancy}/resolve", json={"note": "not ours"}, auth=two
        )
        assert r.status_code == 404 and r.json()["detail"].endswith("not found"), r.text
        assert await _counts(conn) == before
        # Its own company resolves them.
        r = await http.post(
            f"/discrepancies/{wx_discrepancy}/resolve", json={"note": "已核实"}, auth=one
        )
        assert r.status_code == 200, r.text
        audit = await conn.fetchrow(
            "SELECT company_id FROM audit_log WHERE action = 'discrepancy.resolved'"
        )
        assert audit["company_id"] == "co-1"

    # A record from before merchant accounts had companies: given its gateway's configured
    # account (and company) at the next start.
    await conn.execute(
        "INSERT INTO payment_exceptions (exception_id, dedup_key, gateway, channel, "
        "transaction_id, out_trade_no, amount_fen, currency, reason, detail, paid_at, "
        "created_at) VALUES ('exc-old', 'wechatpay:old', 'wechatpay', 'wechat_pay', 'old', "
        "'P-old', 5, 'CNY', 'unknown_order', 'old', now(), now())"
    )
    proc.stop()
    proc.start()
    row = await conn.fetchrow(
        "SELECT merchant_id, company_id FROM payment_exceptions WHERE exception_id = 'exc-old'"
    )
    assert (row["merchant_id"], row["company_id"]) == (MCHID, "co-1")
    await conn.close()
