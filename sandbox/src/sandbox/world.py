"""The demo's world: every gateway and provider on one HTTP port and an SMTP server, sharing
one set of generated credentials (:mod:`sandbox.keys`). Each checks what the real one checks
and answers in its documented format; what they accept is kept in order
(:meth:`Sandbox.messages`). Nothing here logs a phone number, an openid or an address:
uvicorn's access log is off and the sandbox writes no log of its own.

Routes: ``/v3/...`` WeChat Pay, ``/alipay/gateway.do`` Alipay, ``/gateway/api/*.do`` UnionPay,
``/alibaba/`` Alibaba Cloud SMS, ``/wechat/cgi-bin/...`` the WeChat official account,
``/push`` the app-push gateway; ``/healthz``, ``/_sandbox/messages``, ``/_sandbox/counts``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.alipay import AlipayRoutes
from sandbox.keys import UNIONPAY_ORG, Credentials
from sandbox.push import PushRoutes
from sandbox.server import ThreadServer
from sandbox.sms import AlibabaRoutes
from sandbox.smtp import SmtpServer
from sandbox.state import json_response, subject_kind
from sandbox.unionpay import UnionPayRoutes
from sandbox.wechat import WechatRoutes
from sandbox.wechatpay import WechatPayRoutes

CHANNELS = ("sms", "wechat", "app_push", "email")
PROVIDERS = ("alibaba", "wechat", "app_push", "smtp", "wechatpay", "alipay", "unionpay")


class Sandbox(
    WechatPayRoutes, AlipayRoutes, UnionPayRoutes, AlibabaRoutes, WechatRoutes, PushRoutes
):
    """The fake outside world: gateways for payments, providers for notifier."""

    def __init__(self, credentials: Credentials) -> None:
        super().__init__(credentials)
        self._http: ThreadServer | None = None
        self._smtp: SmtpServer | None = None
        self.port: int | None = None
        self.smtp_port: int | None = None
        routes: list[BaseRoute] = [
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/_sandbox/messages", self._messages_http, methods=["GET"]),
            Route("/_sandbox/counts", self._counts_http, methods=["GET"]),
            *self.wechatpay_routes(),
            *self.alipay_routes(),
            *self.unionpay_routes(),
            *self.alibaba_routes(),
            *self.wechat_routes(),
            *self.push_routes(),
        ]
        self.app = Starlette(routes=routes)

    @classmethod
    def load_or_create(cls, directory: Path) -> Sandbox:
        """Generate every credential once into ``directory``; reload them on later runs."""
        return cls(Credentials.load_or_create(directory))

    def _file(self, name: str) -> str:
        return str(self.credentials.directory / name)

    def service_env(self, port: int, smtp_port: int | None = None) -> dict[str, str]:
        """Environment variables that point payments and notifier at this sandbox (on ``port``
        and ``smtp_port``, by default ``port + 1``) and give them the credentials."""
        base = f"http://127.0.0.1:{port}"
        smtp = smtp_port if smtp_port is not None else self.smtp_port or port + 1
        wx, ali, up = self.ids["wechatpay"], self.ids["alipay"], self.ids["unionpay"]
        sms, wechat = self.ids["alibaba"], self.ids["wechat"]
        codes = dict(sms["template_codes"])
        return {
            # payments: WeChat Pay API v3, both verification modes configured (a key switch).
            "PAYMENTS_WECHATPAY_MCHID": wx["mchid"],
            "PAYMENTS_WECHATPAY_APPID": wx["appid"],
            "PAYMENTS_WECHATPAY_API_BASE_URL": base,
            "PAYMENTS_WECHATPAY_MERCHANT_SERIAL_NO": wx["merchant_serial_no"],
            "PAYMENTS_WECHATPAY_MERCHANT_PRIVATE_KEY_FILE": self._file(
                "wechatpay/apiclient_key.pem"
            ),
            "PAYMENTS_WECHATPAY_APIV3_KEY_FILE": self._file("wechatpay/apiv3.key"),
            "PAYMENTS_WECHATPAY_PLATFORM_CERTIFICATES_FILE": self._file(
                "wechatpay/platform_cert.pem"
            ),
            "PAYMENTS_WECHATPAY_PUBLIC_KEY_ID": wx["public_key_id"],
            "PAYMENTS_WECHATPAY_PUBLIC_KEY_FILE": self._file("wechatpay/pub_key.pem"),
            # payments: Alipay (the public key as the console shows it: bare base64).
            "PAYMENTS_ALIPAY_APP_ID": ali["app_id"],
            "PAYMENTS_ALIPAY_SELLER_ID": ali["seller_id"],
            "PAYMENTS_ALIPAY_GATEWAY_URL": f"{base}/alipay/gateway.do",
            "PAYMENTS_ALIPAY_APP_PRIVATE_KEY_FILE": self._file("alipay/app_private_key.pem"),
            "PAYMENTS_ALIPAY_PUBLIC_KEY_FILE": self._file("alipay/alipay_public_key.txt"),
            # payments: UnionPay 5.1.0.
            "PAYMENTS_UNIONPAY_MER_ID": up["mer_id"],
            "PAYMENTS_UNIONPAY_BASE_URL": base,
            "PAYMENTS_UNIONPAY_SIGN_CERT_ID": up["sign_cert_id"],
            "PAYMENTS_UNIONPAY_PRIVATE_KEY_FILE": self._file("unionpay/merchant_sign_key.pem"),
            "PAYMENTS_UNIONPAY_ROOT_CERT_FILE": self._file("unionpay/root_ca.pem"),
            "PAYMENTS_UNIONPAY_MIDDLE_CERT_FILE": self._file("unionpay/middle_ca.pem"),
            "PAYMENTS_UNIONPAY_CERT_ORG": UNIONPAY_ORG,
            # notifier: Alibaba SMS.
            "NOTIFIER_SMS_PROVIDER": "alibaba",
            "NOTIFIER_SMS_SIGN_NAME": sms["sign_name"],
            "NOTIFIER_SMS_TEMPLATE_CODES": json.dumps({"alibaba": codes}),
            "NOTIFIER_ALIBABA_ENDPOINT": f"{base}/alibaba/",
            "NOTIFIER_ALIBABA_ACCESS_KEY_ID": sms["access_key_id"],
            "NOTIFIER_ALIBABA_ACCESS_KEY_SECRET": sms["access_key_secret"],
            "NOTIFIER_RECEIPT_CALLBACK_TOKEN": self.receipt_callback_token,
            # notifier: WeChat official account.
            "NOTIFIER_WECHAT_API_BASE": f"{base}/wechat",
            "NOTIFIER_WECHAT_APP_ID": wechat["app_id"],
            "NOTIFIER_WECHAT_APP_SECRET": wechat["app_secret"],
            "NOTIFIER_WECHAT_MESSAGE_API": "template",
            "NOTIFIER_WECHAT_TEMPLATE_IDS": json.dumps(wechat["template_ids"]),
            # notifier: app push webhook and e-mail.
            "NOTIFIER_PUSH_WEBHOOK_URL": f"{base}/push",
            "NOTIFIER_PUSH_WEBHOOK_SECRET": self.ids["push"]["secret"],
            "NOTIFIER_SMTP_HOST": "127.0.0.1",
            "NOTIFIER_SMTP_PORT": str(smtp),
            "NOTIFIER_SMTP_USE_TLS": "false",
            "NOTIFIER_SMTP_START_TLS": "false",
        }

    def start(self, port: int, smtp_port: int | None = None) -> None:
        """Serve HTTP on ``127.0.0.1:port`` (uvicorn in a daemon thread) and SMTP on
        ``smtp_port`` (default ``port + 1``; asyncio in a daemon thread). Raises ``OSError``
        when a port is taken."""
        if self._http is not None:
            raise RuntimeError("the sandbox is already running")
        smtp_port = port + 1 if smtp_port is None else smtp_port
        http = ThreadServer(self.app, port)
        smtp = SmtpServer(
            smtp_port, on_accept=self._mailed, on_refuse=self._mail_refused, keep=False
        )
        try:
            smtp.start()
        except BaseException:
            http.stop()
            raise
        try:
            http.start()
        except BaseException:
            smtp.stop()
            raise
        self._http, self._smtp = http, smtp
        self.port, self.smtp_port = port, smtp_port

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
        if self._smtp is not None:
            self._smtp.stop()
        self._http = self._smtp = None

    def _mailed(self, rcpt: str, subject: str, sender: str, text: str | None) -> None:
        self._accept(
            "email", rcpt, None, {"subject": subject, "from": sender}, text, subject_kind(subject)
        )

    def _mail_refused(self) -> None:
        self._count("rejected.smtp")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---------------------------------------------------------------------------- outside world

    def messages(self, since: int = 0) -> list[dict[str, Any]]:
        """Every message a provider accepted, in order: ``channel`` (sms | wechat | app_push |
        email), ``to`` (phone, openid, app user, e-mail address), ``template`` (SMS template
        code or WeChat template id; None for push and e-mail), ``params``, ``text`` (what the
        person reads when the request carries it), ``kind`` (bill | receipt | reminder |
        confirmation when known) and ``at`` (the real time it arrived, UTC). ``since``: only
        those after the first ``since`` (cheaper than slicing the whole list each day)."""
        with self._lock:
            return [dict(m) for m in self._messages[since:]]

    def counts(self) -> dict[str, int]:
        """Accepted per channel; ``rejected_signatures.<provider>`` (a signature, key, token
        or credential the real provider would refuse) and ``rejected.<provider>`` (other
        refusals: a bad number, an unknown template); ``requests.<gateway>`` (API calls)."""
        with self._lock:
            out = {c: 0 for c in CHANNELS}
            out |= {f"rejected_signatures.{p}": 0 for p in PROVIDERS}
            out.update(self._counts)
            out["rejected_signatures"] = sum(out[f"rejected_signatures.{p}"] for p in PROVIDERS)
            return out

    async def _healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def _messages_http(self, request: Request) -> Response:
        """What reached the world, for a simulator in another process (local only)."""
        since = int(request.query_params.get("since", "0"))
        return json_response([{**m, "at": str(m.get("at"))} for m in self.messages(since)])

    async def _counts_http(self, request: Request) -> Response:
        return json_response(self.counts())
