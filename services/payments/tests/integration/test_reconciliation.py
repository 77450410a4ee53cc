"""Reconciliation over the real HTTP API and PostgreSQL: payments and refunds recorded from
signed notifications, then the day's WeChat Pay and Alipay statement files imported: matched,
missing here, missing at the gateway, amount mismatch and fees; the discrepancies stay open
until a person resolves them; the daily close; importing the same file again changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities, wechat_env

from propfee.auth import Role
from sandbox import alipay
from sandbox.keys import new_key, public_base64, write
from sandbox.wechatpay import WechatSide, refund, transaction
from tests.support.auth import BearerAuth, staff_token

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


def wechat_trade(txn: str, otn: str, amount: str, fee: str) -> str:
    return (
        f"`{DAY} 10:05:00,`wxd678efh567hg6787,`1900000109,`0,`,`{txn},`{otn},`oUpF8uMu,`NATIVE,"
        f"`SUCCESS,`CMC,`CNY,`{amount},`0.00,`0,`0,`0.00,`0.00,`,`,`物业费,`,`{fee},`0.60%,"
        f"`{amount},`0.00,`\n"
    )


def wechat_refund(txn: str, otn: str, out_refund_no: str, amount: str, fee: str) -> str:
    return (
        f"`{DAY} 15:00:00,`wxd678efh567hg6787,`1900000109,`0,`,`{txn},`{otn},`oUpF8uMu,`NATIVE,"
        f"`REFUND,`CMC,`CNY,`0.00,`0.00,`50300001,`{out_refund_no},`{amount},`0.00,`ORIGINAL,"
        f"`SUCCESS,`物业费,`,`{fee},`0.60%,`0.00,`{amount},`\n"
    )


def alipay_row(trade_no: str, otn: str, kind: str, amount: str, request_no: str, fee: str) -> str:
    # Alipay pads its fields with a tab.
    return (
        f"{trade_no}\t,{otn}\t,{kind},物业费,{DAY} 10:00:00,{DAY} 10:06:00,,,,,159****5620,"
        f"{amount},{amount},0.00,0.00,0.00,0.00,0.00,,0.00,0.00,{request_no},{fee},0.00,\n"
    )


async def test_statements_imported_and_the_day_closed(
    services, create_database, tmp_path, staff_auth, dev_issuer
) -> None:  # type: ignore[no-untyped-def]
    side, alipay_key = WechatSide(), new_key()
    db = await create_database("payments")
    proc = services(
        "payments",
        db,
        **wechat_env(side, tmp_path),
        alipay_app_id=alipay.APP_ID,
        alipay_company_id="co-1",
        alipay_seller_id=alipay.SELLER_ID,
        alipay_public_key_file=write(tmp_path / "alipay_pub.txt", public_base64(alipay_key)),
    ).start()
    await know_communities(db)
    conn = await asyncpg.connect(db)
    async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:

        async def order(unit: str, amount: int, channel: str, at: str) -> dict[str, Any]:
            r = await http.post(
                "/orders",
                json={
                    "unit_id": unit,
                    "channel": channel,
                    "community_id": "c-r",
                    "payer_party_id": f"owner-{unit}",
                    "amount_fen": amount,
                    "at": at,
                },
            )
            assert r.status_code == 201, r.text
            return r.json()

        async def wechat_paid(o: dict[str, Any], txn: str, at: datetime) -> str:
            body = side.body(
                "TRANSACTION.SUCCESS",
                transaction(
                    o["out_trade_no"], o["amount_fen"], transaction_id=txn, success_time=at
                ),
            )
            r = await http.post("/webhooks/wechatpay", content=body, headers=side.headers(body))
            assert r.status_code == 204, r.text
            payment = await conn.fetchrow(
                "SELECT payment_id FROM payments WHERE out_trade_no = $1", o["out_trade_no"]
            )
            return str(payment["payment_id"])

        async def alipay_notice(params: dict[str, str]) -> None:
            r = await http.post(
                "/webhooks/alipay",
                content=alipay.signed_form(params, alipay_key),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            )
            assert r.text == "success"

        async def ask_refund(payment_id: str, amount: int) -> str:
            r = await http.post(
                f"/payments/{payment_id}/refunds",
                json={"amount_fen": amount, "reason": "多收", "requested_by": "finance-1"},
            )
            assert r.status_code == 201, r.text
            return str(r.json()["out_refund_no"])

        morning = f"{DAY}T10:00:00+08:00"
        paid_at = datetime(2026, 3, 5, 10, 5, tzinfo=CST)
        w1 = await order("u-w1", 27580, "wechat_pay", morning)
        w2 = await order("u-w2", 10000, "wechat_pay", morning)
        w3 = await order("u-w3", 5000, "wechat_pay", morning)
        w4 = await order("u-w4", 7000, "wechat_pay", "2026-03-06T00:05:00+08:00")
        w1_pay = await wechat_paid(w1, "4200000001", paid_at)
        await wechat_paid(w2, "4200000002", paid_at)
        await wechat_paid(w3, "4200000003", paid_at)  # not on WeChat's statement
        # Just after midnight in Shanghai (still the 5th in UTC): the 6th's, not on this day's.
        await wechat_paid(w4, "4200000004", datetime(2026, 3, 6, 0, 10, tzinfo=CST))
        w1_refund = await ask_refund(w1_pay, 2580)
        refunded = refund(w1["out_trade_no"], w1_refund, 2580, 27580)
        refunded["success_time"] = f"{DAY}T15:00:00+08:00"
        notice = side.body("REFUND.SUCCESS", refunded)
        r = await http.post(
            "/webhooks/wechatpay", content=notice, headers=side.headers(notice, mode="platform")
        )
        assert r.status_code == 204, r.text

        a1 = await order("u-a1", 27580, "alipay", morning)
        a2 = await order("u-a2", 8800, "alipay", morning)
        for o, trade_no, amount in (
            (a1, "2026030522001", "275.80"),
            (a2, "2026030522002", "88.00"),
        ):
            await alipay_notice(
                alipay.notification(
                    o["out_trade_no"], amount, trade_no=trade_no, gmt_payment=f"{DAY} 10:06:00"
                )
            )
        a1_pay = await conn.fetchval(
            "SELECT payment_id FROM payments WHERE out_trade_no = $1", a1["out_trade_no"]
        )
        a1_refund = await ask_refund(a1_pay, 1000)
        await alipay_notice(
            alipay.notification(
                a1["out_trade_no"],
                "275.80",
                trade_no="2026030522001",
                refund_fee="10.00",
                out_biz_no=a1_refund,
                gmt_refund=f"{DAY} 16:00:00.123",
                notify_time=f"{DAY} 16:00:01",
            )
        )
        states = await conn.fetch("SELECT status, refunded_at FROM refunds ORDER BY amount_fen")
        assert [s["status"] for s in states] == ["succeeded", "succeeded"]

        wechat_bill = (
            WECHAT_HEADER
            + wechat_trade("4200000001", w1["out_trade_no"], "275.80", "1.65000")
            + wechat_trade("4200000002", w2["out_trade_no"], "100.01", "0.60000")  # mismatch
            + wechat_trade("4200000099", "P2603050000000XXXX", "66.00", "0.40000")  # not ours
            + wechat_refund("4200000001", w1["out_trade_no"], w1_refund, "25.80", "-0.15000")
            + "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
            + "`4,`441.81,`25.80,`0.00,`2.50000,`441.81,`25.80\n"
        )
        alipay_bill = (
            "#支付宝业务明细查询\n#账号：[20881021778468800156]\n"
            "#起始日期：[2026年03月05日 00:00:00]   终止日期：[2026年03月06日 00:00:00]\n"
            "#-----------------------------------------业务明细列表----------------------------------------\n"
            + ALIPAY_HEADER
            + alipay_row("2026030522001", a1["out_trade_no"], "交易", "275.80", "", "-1.65")
            + alipay_row("2026030522002", a2["out_trade_no"], "交易", "88.00", "", "-0.53")
            + alipay_row("2026030522001", a1["out_trade_no"], "退款", "-10.00", a1_refund, "0.06")
            + alipay_row("2026030522077", "P2603050000000YYYY", "交易", "12.00", "", "-0.07")
            + "#-----------------------------------------业务明细列表结束------------------------------------\n"
            "#交易合计：3笔，商家实收：375.80元，商家优惠：0.00元\n"
            "#退款合计：1笔，商家实收：-10.00元，商家优惠：0.00元\n"
            "#导出时间：[2026年03月06日 09:12:11]\n"
        )

        async def import_both() -> tuple[dict[str, Any], dict[str, Any]]:
            w = await http.post(
                f"/reconciliation/wechatpay/{DAY}",
                content=wechat_bill.encode(),
                headers={"Content-Type": "text/csv; charset=utf-8"},
            )
            # Alipay's files come in GBK.
            a = await http.post(
                f"/reconciliation/alipay/{DAY}",
                content=alipay_bill.encode("gbk"),
                headers={"Content-Type": "text/csv; charset=gbk"},
            )
            assert w.status_code == 200 and a.status_code == 200, (w.text, a.text)
            return w.json(), a.json()

        wechat, ali = await import_both()
        assert wechat == {
            "gateway": "wechatpay",
            "merchant_id": "1900000109",
            "bill_date": DAY,
            "matched": 2,  # W1 and its refund
            "missing_here": 1,
            "missing_at_gateway": 1,
            "amount_mismatch": 1,
            "fee_fen": 165 + 60 + 40 - 15,
            "gateway_payments_fen": 27580 + 10001 + 6600,
            "gateway_refunds_fen": 2580,
        }
        assert ali == {
            "gateway": "alipay",
            "merchant_id": alipay.APP_ID,
            "bill_date": DAY,
            "matched": 3,  # A1, A2 and A1's refund
            "missing_here": 1,
            "missing_at_gateway": 0,
            "amount_mismatch": 0,
            "fee_fen": 165 + 53 - 6 + 7,
            "gateway_payments_fen": 27580 + 8800 + 1200,
            "gateway_refunds_fen": 1000,
        }
        open_list = (await http.get("/discrepancies")).json()["items"]
        found = {
            (
                d["gateway"],
                d["kind"],
                d["reference"],
                d["result"],
                d["gateway_fen"],
                d["recorded_fen"],
            )
            for d in open_list
        }
        assert found == {
            ("wechatpay", "payment", "4200000002", "amount_mismatch", 10001, 10000),
            ("wechatpay", "payment", "4200000099", "missing_here", 6600, None),
            ("wechatpay", "payment", "4200000003", "missing_at_gateway", None, 5000),
            ("alipay", "payment", "2026030522077", "missing_here", 1200, None),
        }

        # Again, the same files: the same answers, nothing changed in the database.
        snapshot = [
            [dict(r) for r in await conn.fetch(f"SELECT * FROM {t} ORDER BY 1, 2")]
            for t in ("discrepancies", "statement_imports")
        ]
        assert await import_both() == (wechat, ali)
        assert [
            [dict(r) for r in await conn.fetch(f"SELECT * FROM {t} ORDER BY 1, 2")]
            for t in ("discrepancies", "statement_imports")
        ] == snapshot

        # The reconciliation CronJob posts the day's file with a service-role token; a
        # housekeeper may not import one.
        for roles, status in (([Role.service], 200), ([Role.housekeeper], 403)):
            token = BearerAuth(staff_token(dev_issuer, roles))
            r = await http.post(
                f"/reconciliation/wechatpay/{DAY}",
                content=wechat_bill.encode(),
                headers={"Content-Type": "text/csv; charset=utf-8"},
                auth=token,
            )
            assert r.status_code == status, r.text
            if status == 200:
                assert r.json() == wechat

        # A person resolves one with a note; a re-import keeps it resolved.
        mismatch = next(d for d in open_list if d["result"] == "amount_mismatch")
        r = await http.post(
            f"/discrepancies/{mismatch['discrepancy_id']}/resolve",
            json={"note": "微信多结算 0.01 元，已与微信客服核实", "resolved_by": "finance-1"},
        )
        assert r.status_code == 200 and r.json()["status"] == "resolved", r.text
        assert (
            await http.post(
                f"/discrepancies/{mismatch['discrepancy_id']}/resolve",
                json={"note": "again", "resolved_by": "finance-1"},
            )
        ).status_code == 409
        await import_both()
        assert len((await http.get("/discrepancies")).json()["items"]) == 3
        resolved = (await http.get("/discrepancies", params={"status": "resolved"})).json()["items"]
        assert [d["discrepancy_id"] for d in resolved] == [mismatch["discrepancy_id"]]

        # 日清日结 for the day: per community and channel; the statements; what is open.
        close = (await http.get("/reports/daily-close", params={"day": DAY})).json()
        assert close["by_community_and_channel"] == [
            {
                "community_id": "c-r",
                "channel": "alipay",
                "payments": 2,
                "received_fen": 27580 + 8800,
                "refunds": 1,
                "refunded_fen": 1000,
                "net_fen": 27580 + 8800 - 1000,
            },
            {
                "community_id": "c-r",
                "channel": "wechat_pay",
                "payments": 3,
                "received_fen": 27580 + 10000 + 5000,
                "refunds": 1,
                "refunded_fen": 2580,
                "net_fen": 27580 + 10000 + 5000 - 2580,
            },
        ]
        statements = {s["gateway"]: s for s in close["statements"]}
        assert (statements["wechatpay"]["fee_fen"], statements["wechatpay"]["matched"]) == (250, 2)
        assert (statements["alipay"]["fee_fen"], statements["alipay"]["matched"]) == (219, 3)
        assert (close["open_exceptions"], close["open_discrepancies"]) == (0, 3)
        next_day = (await http.get("/reports/daily-close", params={"day": "2026-03-06"})).json()
        assert [
            (x["channel"], x["received_fen"]) for x in next_day["by_community_and_channel"]
        ] == [("wechat_pay", 7000)]
    await conn.close()
