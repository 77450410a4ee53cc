"""The demo's sandbox: credentials generated once, notifications payments' real verification
accepts (and tampered ones it refuses), gateway APIs payments' real clients can use, fake
providers notifier's real adapters reach; then real payments and notifier processes against it."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import httpx
import pytest

from propfee.events import CommunityUpdated, InvoiceIssued, InvoiceLine, PartyContactsUpdated
from propfee.kafka import make_producer
from sandbox import FILES, Sandbox
from sandbox.sms import SmsProvider
from tests.support.auth import BearerAuth
from tests.support.fixtures import wait_until
from tests.support.kafka import publish
from tests.support.processes import free_port

CST = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def credentials_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox")


@pytest.fixture(scope="module")
def sandbox(credentials_dir: Path) -> Iterator[Sandbox]:
    box = Sandbox.load_or_create(credentials_dir)
    box.start(free_port(), free_port())
    yield box
    box.stop()


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    from payments.settings import PaymentsSettings

    for key, value in env.items():
        if key.startswith("PAYMENTS_"):
            monkeypatch.setenv(key, value)
    return PaymentsSettings()


def order_row(out_trade_no: str, amount_fen: int) -> dict[str, Any]:
    return {
        "out_trade_no": out_trade_no,
        "amount_fen": amount_fen,
        "expires_at": datetime.now(UTC) + timedelta(minutes=30),
    }


def out_trade_no(suffix: str) -> str:
    """Shaped like payments' own: P + yymmddHHMMSS (Shanghai) + 7 characters."""
    return "P" + datetime.now(CST).strftime("%y%m%d%H%M%S") + suffix[:7].upper().ljust(7, "0")


# ------------------------------------------------------------------------------------------------
# credentials


def test_credentials_are_generated_once_private_and_usable(
    credentials_dir: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    again = Sandbox.load_or_create(credentials_dir)
    assert again.ids == sandbox.ids, "reloaded, not regenerated"
    for name, private in FILES.items():
        mode = stat.S_IMODE((credentials_dir / name).stat().st_mode)
        assert (mode == 0o600) if private else not mode & 0o022, (name, oct(mode))
    assert stat.S_IMODE((credentials_dir / "sandbox.json").stat().st_mode) == 0o600

    env = sandbox.service_env(8999, 9000)
    assert env["NOTIFIER_SMS_PROVIDER"] == "alibaba" and env["NOTIFIER_SMTP_PORT"] == "9000"
    assert env["NOTIFIER_ALIBABA_ENDPOINT"] == "http://127.0.0.1:8999/alibaba/"
    assert set(json.loads(env["NOTIFIER_WECHAT_TEMPLATE_IDS"])) >= {"bill", "reminder", "default"}
    for key, value in env.items():
        if key.endswith("_FILE"):
            assert Path(value).is_absolute() and Path(value).is_file(), key
    assert (credentials_dir / "wechatpay/apiv3.key").read_bytes().strip().isalnum()
    assert len((credentials_dir / "wechatpay/apiv3.key").read_bytes().strip()) == 32

    from notifier.settings import NotifierSettings
    from payments.adapters.gateways import Gateways

    gateways = Gateways.from_settings(settings_from(env, monkeypatch))
    assert gateways.wechatpay is not None and len(gateways.wechatpay.verifying_keys) == 2
    assert gateways.alipay is not None and gateways.alipay.app_private_key is not None
    assert gateways.unionpay is not None and gateways.unionpay.private_key is not None
    assert {"wechat_pay", "alipay"} <= set(gateways.clients)

    for key, value in env.items():
        if key.startswith("NOTIFIER_"):
            monkeypatch.setenv(key, value)
    notifier = NotifierSettings()
    assert notifier.wechat_template_ids["bill"] == sandbox.ids["wechat"]["template_ids"]["bill"]
    assert notifier.sms_template_codes["alibaba"]["reminder"] == "SMS_REMINDER"


# ------------------------------------------------------------------------------------------------
# notifications, checked by payments' own verification code


def test_wechatpay_notifications_verify_and_tampering_is_refused(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments.adapters.crypto import VerificationError
    from payments.adapters.keys import wechatpay_keys
    from payments.adapters.wechatpay_notify import read_notification
    from payments.adapters.wechatpay_resources import refund_report, transaction_report

    keys = wechatpay_keys(settings_from(sandbox.service_env(1), monkeypatch))
    assert keys is not None
    paid_at = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)
    serials = set()
    for _ in range(2):  # public key, then platform certificate
        body, headers = sandbox.wechatpay_notification("P2603051730TEST001", 27580, paid_at, "42")
        lowered = {k.lower(): v for k, v in headers.items()}
        serials.add(lowered["wechatpay-serial"])
        note = read_notification(keys, lowered, body, datetime.now(UTC))
        report = transaction_report(note.resource)
        assert note.event_type == "TRANSACTION.SUCCESS" and report is not None
        assert (report.amount_fen, report.transaction_id, report.paid_at) == (27580, "42", paid_at)
        assert note.resource["success_time"] == "2026-03-05T17:30:00+08:00"
    assert serials == {
        sandbox.ids["wechatpay"]["public_key_id"],
        sandbox.credentials.wechatpay_platform_serial,
    }

    with pytest.raises(VerificationError):
        read_notification(keys, lowered, body.replace(b'"id":"', b'"id":"x'), datetime.now(UTC))
    forged = {**lowered, "wechatpay-signature": lowered["wechatpay-signature"][::-1]}
    with pytest.raises(VerificationError):
        read_notification(keys, forged, body, datetime.now(UTC))

    body, headers = sandbox.wechatpay_refund_notification(
        "P2603051730TEST001", "R-1", 1000, 27580, paid_at + timedelta(days=1)
    )
    note = read_notification(
        keys, {k.lower(): v for k, v in headers.items()}, body, datetime.now(UTC)
    )
    refund = refund_report(note.resource, datetime.now(UTC))
    assert note.event_type == "REFUND.SUCCESS" and refund.succeeded
    assert (refund.out_refund_no, refund.amount_fen) == ("R-1", 1000)


def test_alipay_and_unionpay_notifications_verify_and_tampering_is_refused(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments.adapters import alipay_notify, unionpay_notify
    from payments.adapters.crypto import VerificationError
    from payments.adapters.keys import alipay_keys, unionpay_keys

    settings = settings_from(sandbox.service_env(1), monkeypatch)
    paid_at = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)

    ali = alipay_keys(settings)
    assert ali is not None
    form, headers = sandbox.alipay_notification("P2603051730TEST002", 27580, paid_at, "2026030522")
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    params = alipay_notify.parse_form(form)
    alipay_notify.verify_notification(ali, params)
    report = alipay_notify.payment_report(params)
    assert report is not None and (report.amount_fen, report.paid_at) == (27580, paid_at)
    with pytest.raises(VerificationError):
        alipay_notify.verify_notification(
            ali,
            alipay_notify.parse_form(form.replace(b"total_amount=275.80", b"total_amount=2.80")),
        )

    up = unionpay_keys(settings)
    assert up is not None
    form, _ = sandbox.unionpay_notification("P2603051730TEST003", 12345, paid_at, "Q" * 21)
    params = dict(parse_qsl(form.decode(), keep_blank_values=True, strict_parsing=True))
    unionpay_notify.verify_notification(up, params, datetime.now(UTC))
    report = unionpay_notify.payment_report(params)
    assert report is not None and (report.amount_fen, report.paid_at) == (12345, paid_at)
    with pytest.raises(VerificationError):
        unionpay_notify.verify_notification(up, {**params, "txnAmt": "12340"}, datetime.now(UTC))


# ------------------------------------------------------------------------------------------------
# gateway APIs, called by payments' real clients


async def test_wechatpay_api_with_payments_client(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments.adapters.gateways import Gateways
    from payments.adapters.wechatpay_client import GatewayError, WechatPayClient

    gateways = Gateways.from_settings(
        settings_from(sandbox.service_env(sandbox.port or 0), monkeypatch)
    )
    client = gateways.clients["wechat_pay"]
    assert isinstance(client, WechatPayClient)
    before = sandbox.counts()
    no = out_trade_no("wx1")
    native = await client.prepay(order_row(no, 27580), "native", None)
    assert native["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    jsapi = await client.prepay(order_row(out_trade_no("wx2"), 100), "jsapi", "oOpenid_0001")
    assert jsapi["package"].startswith("prepay_id=wx")
    assert (await client.query(no)).state == "NOTPAY"
    unpaid = order_row(out_trade_no("wx4"), 100)
    await client.prepay(unpaid, "native", None)
    assert await client.close(unpaid)
    assert (await client.query(unpaid["out_trade_no"])).state == "CLOSED"
    sandbox.wechatpay_notification(no, 27580, datetime.now(UTC), "4200000001")
    answer = await client.query(no)
    assert answer.state == "SUCCESS" and answer.report is not None
    assert answer.report.transaction_id == "4200000001"
    assert (await client.query(out_trade_no("nope"))).state == "not_found"

    forged = WechatPayClient(
        http=client.http,
        keys=client.keys,
        merchant_key=sandbox.credentials.wechatpay_platform_key,  # not the merchant's key
        merchant_serial=client.merchant_serial,
        appid=client.appid,
        notify_url=client.notify_url,
    )
    with pytest.raises(GatewayError, match="SIGN_ERROR"):
        await forged.prepay(order_row(out_trade_no("wx3"), 100), "native", None)
    after = sandbox.counts()
    assert after["rejected_signatures.wechatpay"] == before["rejected_signatures.wechatpay"] + 1
    await client.http.aclose()


async def test_alipay_gateway_checks_rsa2_requests_as_documented(sandbox: Sandbox) -> None:
    """Requests are signed over every parameter but ``sign`` (``sign_type`` included, empty
    values left out); the answer is signed over the exact ``*_response`` text."""
    from sandbox.keys import load_key as _load_key
    from sandbox.keys import rsa_sign as _rsa_sign
    from sandbox.keys import rsa_verify as _rsa_verify

    app_key = _load_key(sandbox.credentials.directory / "alipay/app_private_key.pem")
    no = out_trade_no("ali1")
    params = {
        "app_id": sandbox.ids["alipay"]["app_id"],
        "method": "alipay.trade.precreate",
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S"),
        "version": "1.0",
        "notify_url": "http://127.0.0.1:1/webhooks/alipay",
        "app_auth_token": "",
        "biz_content": json.dumps(
            {"out_trade_no": no, "total_amount": "275.80", "subject": "物业费"}, ensure_ascii=False
        ),
    }
    content = "&".join(f"{k}={params[k]}" for k in sorted(params) if params[k] and k != "sign")
    signed = {**params, "sign": _rsa_sign(app_key, content.encode())}
    alipay_public = sandbox.credentials.alipay_key.public_key()
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        r = await http.post("/alipay/gateway.do", data=signed)
        raw = r.text
        answer = json.loads(raw)
        node = answer["alipay_trade_precreate_response"]
        assert node["code"] == "10000" and node["qr_code"].startswith("https://qr.alipay.com/")
        text = raw[raw.index(":") + 1 : raw.rindex(',"sign"')]
        assert _rsa_verify(alipay_public, text.encode(), answer["sign"])

        tampered = {**signed, "biz_content": signed["biz_content"].replace("275.80", "2.80")}
        r = await http.post("/alipay/gateway.do", data=tampered)
        node = r.json()["alipay_trade_precreate_response"]
        assert node["sub_code"] == "isv.invalid-signature"

        sandbox.alipay_notification(no, 27580, datetime.now(UTC), "2026030500001")
        query = {
            **params,
            "method": "alipay.trade.query",
            "biz_content": json.dumps({"out_trade_no": no}),
        }
        content = "&".join(f"{k}={query[k]}" for k in sorted(query) if query[k] and k != "sign")
        query["sign"] = _rsa_sign(app_key, content.encode())
        node = (await http.post("/alipay/gateway.do", data=query)).json()
        assert node["alipay_trade_query_response"]["trade_status"] == "TRADE_SUCCESS"


async def test_alipay_api_with_payments_client(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments.adapters.alipay_client import AlipayClient
    from payments.adapters.gateways import Gateways

    gateways = Gateways.from_settings(
        settings_from(sandbox.service_env(sandbox.port or 0), monkeypatch)
    )
    client = gateways.clients["alipay"]
    assert isinstance(client, AlipayClient)
    before = sandbox.counts()["rejected_signatures.alipay"]
    try:
        no = out_trade_no("ali2")
        answer = await client.prepay(order_row(no, 27580), "native", None)
        assert answer["qr_code"].startswith("https://qr.alipay.com/")
        assert (await client.query(no)).state == "ACQ.TRADE_NOT_EXIST"  # nobody scanned it
        closed = out_trade_no("ali3")
        await client.prepay(order_row(closed, 100), "native", None)
        assert await client.close(order_row(closed, 100))
        sandbox.alipay_notification(no, 27580, datetime.now(UTC), "2026030500003")
        paid = await client.query(no)
        assert paid.state == "TRADE_SUCCESS" and paid.report is not None
        assert (paid.report.amount_fen, paid.report.transaction_id) == (27580, "2026030500003")
        assert sandbox.counts()["rejected_signatures.alipay"] == before
    finally:
        await client.http.aclose()


async def test_unionpay_api_with_payments_client(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    unionpay_client = pytest.importorskip("payments.adapters.unionpay_client")
    from payments.adapters.keys import unionpay_keys

    keys = unionpay_keys(settings_from(sandbox.service_env(sandbox.port or 0), monkeypatch))
    assert keys is not None
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        client = unionpay_client.UnionPayClient(
            http=http,
            keys=keys,
            back_url="http://127.0.0.1:1/webhooks/unionpay",
            front_url="http://127.0.0.1:1/paid",
        )
        no = out_trade_no("up1")
        qr = await client.prepay(order_row(no, 12345), "native", None)
        assert qr["qr_code"].startswith("https://qr.95516.com/")
        tn = await client.prepay(order_row(out_trade_no("up2"), 100), "app", None)
        assert len(tn["tn"]) == 21
        assert (await client.query(no)).state == "not_found"
        sandbox.unionpay_notification(no, 12345, datetime.now(UTC), "7" * 21)
        answer = await client.query(no)
        assert answer.state == "SUCCESS" and answer.report.amount_fen == 12345

        before = sandbox.counts()["rejected_signatures.unionpay"]
        signed = client.signed({"txnType": "00", "orderId": no, "txnTime": "20260305173000"})
        r = await http.post("/gateway/api/queryTrans.do", data={**signed, "orderId": "P0"})
        assert "respCode=11" in r.text and "signature=" not in r.text
        assert sandbox.counts()["rejected_signatures.unionpay"] == before + 1


# ------------------------------------------------------------------------------------------------
# providers, reached by notifier's real adapters


def outbound(channel: str, address: str, message_type: str = "reminder", **extra: Any) -> Any:
    from notifier.adapters.base import Outbound

    return Outbound(
        notification_id=f"n-{channel}-{address[-4:]}",
        channel=channel,
        address=address,
        body="3-2-1201物业费275.80元3月20日前缴",
        message_type=message_type,
        subject="安居物业：物业费缴费提醒",
        sms_params={"room": "3-2-1201", "amount": "275.80", "deadline": "3月20日"},
        template_codes={"alibaba": "SMS_REMINDER"},
        context={"pay_link": "https://pf.cn/p/u-1"},
        **extra,
    )


async def test_notifier_adapters_reach_the_providers_and_bad_credentials_are_refused(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The channels as notifier builds them from its settings (its real adapters)."""
    from notifier.adapters.registry import Channels
    from notifier.settings import NotifierSettings

    env = sandbox.service_env(sandbox.port or 0, sandbox.smtp_port)

    def channels(**overrides: str) -> Any:
        for key, value in {**env, **overrides}.items():
            if key.startswith("NOTIFIER_"):
                monkeypatch.setenv(key, value)
        return Channels.from_settings(NotifierSettings())

    def send(chans: Any, channel: str, *args: Any) -> Any:
        return chans.route(channel).adapter.send(outbound(channel, *args))

    seen = len(sandbox.messages())
    before = sandbox.counts()
    good = channels()
    wrong = "not-the-secret"
    bad = channels(
        NOTIFIER_ALIBABA_ACCESS_KEY_SECRET=wrong,
        NOTIFIER_WECHAT_APP_SECRET=wrong,
        NOTIFIER_PUSH_WEBHOOK_SECRET=wrong,
    )
    try:
        accepted = await asyncio.gather(
            send(good, "sms", "13812345678"),
            send(good, "wechat", "oWX_openid_123456"),
            send(good, "app_push", "app-42"),
            send(good, "email", "owner@example.cn"),
        )
        # WeChat and app push are sent, not delivered, until their receipt (issue 18 rule 3).
        assert [r.outcome for r in accepted] == ["sent", "sent", "sent", "delivered"], accepted
        assert accepted[0].proof["biz_id"].endswith("^0")
        again = await send(good, "wechat", "oWX_openid_123456")  # the cached token is reused
        assert again.outcome == "sent", again

        refused = await asyncio.gather(
            send(bad, "sms", "13900000000"),
            send(bad, "wechat", "oWX_openid_654321"),
            send(bad, "app_push", "app-43"),
            send(good, "sms", "12345"),
        )
        assert refused[0].outcome == "failed" and "SignatureDoesNotMatch" in (
            refused[0].error or ""
        )
        assert refused[1].outcome == "retry" and "40125" in (refused[1].error or "")
        assert refused[2].outcome == "failed" and "401" in (refused[2].error or "")
        assert refused[3].outcome == "failed" and "MOBILE_NUMBER_ILLEGAL" in (
            refused[3].error or ""
        )
    finally:
        await good.close()
        await bad.close()

    fresh = sandbox.messages()[seen:]
    by_channel = {m["channel"]: m for m in fresh}
    assert len(fresh) == 5 and set(by_channel) == {"sms", "wechat", "app_push", "email"}
    sent_sms = by_channel["sms"]
    assert (sent_sms["to"], sent_sms["template"], sent_sms["kind"]) == (
        "13812345678",
        "SMS_REMINDER",
        "reminder",
    )
    assert sent_sms["params"]["amount"] == "275.80" and sent_sms["at"].tzinfo is not None
    assert by_channel["wechat"]["to"] == "oWX_openid_123456"
    assert by_channel["wechat"]["kind"] == "reminder"  # the reminder's template id
    assert by_channel["wechat"]["text"] == "3-2-1201物业费275.80元3月20日前缴"
    assert by_channel["app_push"]["to"] == "app-42" and by_channel["app_push"]["kind"] == "reminder"
    email = by_channel["email"]
    assert email["to"] == "owner@example.cn" and email["kind"] == "reminder"
    assert email["params"]["subject"] == "安居物业：物业费缴费提醒"
    assert (email["text"] or "").strip() == "3-2-1201物业费275.80元3月20日前缴"

    after = sandbox.counts()
    assert after["sms"] == before["sms"] + 1 and after["wechat"] == before["wechat"] + 2
    for provider in ("alibaba", "wechat", "app_push"):
        key = f"rejected_signatures.{provider}"
        assert after[key] == before[key] + 1, key
    assert after["rejected_signatures"] == before["rejected_signatures"] + 3


# ------------------------------------------------------------------------------------------------
# real payments and notifier processes


def prefixed(env: dict[str, str], service: str) -> dict[str, str]:
    """service_env's names as the ``services`` fixture takes them (it adds the prefix)."""
    head = service.upper() + "_"
    return {k.removeprefix(head).lower(): v for k, v in env.items() if k.startswith(head)}


@pytest.mark.integration
async def test_real_payments_and_notifier_against_the_sandbox(  # type: ignore[no-untyped-def]
    tmp_path, services, create_database, test_prefix, kafka, dev_issuer
) -> None:
    # A deployment-wide automation token: these services have not heard of the community.
    auth = BearerAuth(dev_issuer.mint("sandbox-test", ["service"], "*", "*"))
    box = Sandbox.load_or_create(tmp_path / "sandbox")
    port, smtp_port = free_port(), free_port()
    box.start(port, smtp_port)
    try:
        env = box.service_env(port, smtp_port)
        payments_db = await create_database("payments")
        payments = services("payments", payments_db, **prefixed(env, "PAYMENTS")).start(wait=False)
        notifier = services(
            "notifier",
            await create_database("notifier"),
            **prefixed(env, "NOTIFIER"),
            dispatcher_enabled="false",
        ).start(wait=False)
        payments.wait_ready()
        notifier.wait_ready()
        await _pay_through_the_webhooks(box, payments.url, payments_db, auth)
        await _bill_reaches_the_sandbox_phone(box, notifier.url, kafka, test_prefix, auth)
    finally:
        box.stop()


async def _pay_through_the_webhooks(
    box: Sandbox, url: str, database_url: str, auth: httpx.Auth
) -> None:
    conn = await asyncpg.connect(database_url)
    async with httpx.AsyncClient(base_url=url, timeout=30, auth=auth) as http:

        async def order(channel: str, unit_id: str, amount_fen: int) -> dict[str, Any]:
            r = await http.post(
                "/orders",
                json={
                    "unit_id": unit_id,
                    "channel": channel,
                    "scene": "native",
                    "community_id": "c-demo",
                    "payer_party_id": f"p-{unit_id}",
                    "amount_fen": amount_fen,
                },
            )
            assert r.status_code == 201, r.text
            return dict(r.json())

        wx = await order("wechat_pay", "u-wx", 27580)
        ali = await order("alipay", "u-ali", 31000)
        up = await order("unionpay", "u-up", 12345)
        # Each prepay went through the sandbox (the merchant's signature checked there, the
        # answer's signature checked by payments).
        assert wx.get("gateway_payload", {}).get("code_url", "").startswith("weixin://"), wx
        assert ali.get("gateway_payload", {}).get("qr_code", "").startswith("https://qr.alipay"), (
            ali
        )
        assert up.get("gateway_payload", {}).get("qr_code", "").startswith("https://qr.95516"), up
        paid_at = datetime.now(CST) - timedelta(seconds=5)

        notes = {
            "wechatpay": box.wechatpay_notification(wx["out_trade_no"], 27580, paid_at, "4200001"),
            "alipay": box.alipay_notification(ali["out_trade_no"], 31000, paid_at, "2026030500002"),
            "unionpay": box.unionpay_notification(up["out_trade_no"], 12345, paid_at, "5" * 21),
        }
        tampered = {
            "wechatpay": notes["wechatpay"][0].replace(b'"id":"', b'"id":"0'),
            "alipay": notes["alipay"][0].replace(b"total_amount=310.00", b"total_amount=3.10"),
            "unionpay": notes["unionpay"][0].replace(b"txnAmt=12345", b"txnAmt=12340"),
        }
        for gateway, (body, headers) in notes.items():
            assert tampered[gateway] != body, gateway
            r = await http.post(f"/webhooks/{gateway}", content=tampered[gateway], headers=headers)
            assert r.status_code in (400, 401), (gateway, r.status_code, r.text)
        assert await conn.fetchval("SELECT count(*) FROM gateway_transactions") == 0

        for gateway, (body, headers) in notes.items():
            answers = await asyncio.gather(
                *(http.post(f"/webhooks/{gateway}", content=body, headers=headers) for _ in "12")
            )  # duplicated by the "gateway"
            for r in answers:
                assert r.status_code in (200, 204), (gateway, r.status_code, r.text)
                if gateway == "alipay":
                    assert r.text == "success"

        rows = await conn.fetch(
            "SELECT channel, amount_fen, paid_at FROM payments ORDER BY channel"
        )
        assert [(r["channel"], r["amount_fen"]) for r in rows] == [
            ("alipay", 31000),
            ("unionpay", 12345),
            ("wechat_pay", 27580),
        ]
        assert {r["paid_at"] for r in rows} == {paid_at.replace(microsecond=0)}
        for o in (wx, ali, up):
            assert (await http.get(f"/orders/{o['order_id']}")).json()["status"] == "paid"
        # The gateway's status query of the same payment (signed GET with a query string) adds
        # nothing: still one payment.
        queried = (await http.post(f"/orders/{wx['order_id']}/query")).json()
        assert queried["gateway_state"] == "SUCCESS", queried
        assert await conn.fetchval("SELECT count(*) FROM payments") == 3
        assert await conn.fetchval("SELECT count(*) FROM payment_exceptions") == 0
    await conn.close()
    counts = box.counts()
    assert counts["rejected_signatures.wechatpay"] == 0, counts


async def _bill_reaches_the_sandbox_phone(
    box: Sandbox, url: str, kafka: str, prefix: str, auth: httpx.Auth
) -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    producer = make_producer(kafka, client_id="sandbox-test")
    await producer.start()
    try:

        async def send(event: Any, key: str) -> None:
            await publish(producer, prefix + event.topic(), event, key=key)

        await send(
            CommunityUpdated(
                community_id="c-demo",
                company_id="co-demo",
                company_name="安居物业服务有限公司",
                name="幸福花园",
                city="杭州",
                service_phone="4008123456",
                updated_at=at,
            ),
            "c-demo",
        )
        await send(
            PartyContactsUpdated(
                party_id="p-demo",
                community_id="c-demo",
                kind="owner",
                name="张三",
                phone="13812345678",
                updated_at=at,
            ),
            "p-demo",
        )
        async with httpx.AsyncClient(base_url=url, timeout=30, auth=auth) as http:

            async def party_known() -> bool:
                return (await http.get("/parties/p-demo")).status_code == 200

            await wait_until(party_known, timeout=60)
            await send(
                InvoiceIssued(
                    invoice_id="inv-demo-1",
                    community_id="c-demo",
                    building_id="b-1",
                    unit_id="u-demo",
                    payer_party_id="p-demo",
                    period_start=date(2026, 3, 1),
                    period_end=date(2026, 3, 31),
                    due_date=date(2026, 3, 31),
                    total_fen=27580,
                    issued_at=at,
                    lines=[
                        InvoiceLine(
                            fee_item="property_fee",
                            description="物业服务费",
                            quantity="98.50",
                            unit_price_fen=280,
                            amount_fen=27580,
                        )
                    ],
                    room_label="3-2-1201",
                ),
                "u-demo",
            )

            async def queued() -> bool:
                rows = (
                    await http.get("/notifications", params={"subject_id": "inv-demo-1"})
                ).json()["items"]
                return bool(rows) and rows[0]["status"] == "queued"

            await wait_until(queued, timeout=60)
            report = (
                await http.post("/dispatch", params={"as_of": "2026-03-01T10:05:00+08:00"})
            ).json()
            assert report.get("sent") == 1, report
            row = (await http.get("/notifications", params={"subject_id": "inv-demo-1"})).json()[
                "items"
            ][0]
    finally:
        await producer.stop()
    sms = [m for m in box.messages() if m["channel"] == "sms"]
    assert len(sms) == 1, sms
    assert (sms[0]["to"], sms[0]["template"], sms[0]["kind"]) == ("13812345678", "SMS_BILL", "bill")
    assert row["status"] == "sent" and row["provider_message_id"]
    counts = box.counts()
    assert counts["sms"] == 1 and counts["rejected_signatures.alibaba"] == 0, counts


def test_alibaba_biz_ids_are_unique_within_a_millisecond() -> None:
    """A batch's concurrent SMS are answered in the same millisecond: each still gets its
    own BizId (notifier keeps provider ids unique)."""
    state = SmsProvider()
    ids = [state.next_biz_id() for _ in range(200_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 20 and i.endswith("^0") and i[:18].isdigit() for i in ids[:10])
