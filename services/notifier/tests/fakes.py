"""Local fake providers, real HTTP (uvicorn in a thread) and a real SMTP server (asyncio in a
thread). Each verifies the request signature on its own, with hashlib/hmac, as the provider
would; none uses the adapters' code. Used by the integration tests and the benchmark."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """A FastAPI app served by uvicorn on a free port in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("fake provider did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


@dataclass
class SmsProvider:
    """Shared behaviour of both fake SMS providers."""

    delay_s: float = 0.0
    rate_limit: int | None = None  # requests per rolling second before throttling
    fail_phones: set[str] = field(default_factory=set)  # permanent error
    flaky_phones: dict[str, int] = field(default_factory=dict)  # transient errors left
    sent: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    throttled: int = 0
    _recent: deque[float] = field(default_factory=deque)

    def over_rate(self) -> bool:
        if self.rate_limit is None:
            return False
        now = time.monotonic()
        while self._recent and now - self._recent[0] > 1.0:
            self._recent.popleft()
        self._recent.append(now)
        return len(self._recent) > self.rate_limit

    def verdict(self, phone: str) -> str:
        """'ok', 'throttle', 'transient' or 'permanent' for this phone number."""
        if self.over_rate():
            self.throttled += 1
            return "throttle"
        if phone in self.fail_phones:
            return "permanent"
        if self.flaky_phones.get(phone, 0) > 0:
            self.flaky_phones[phone] -= 1
            return "transient"
        return "ok"


def _pct(value: str) -> str:
    # Alibaba's POP percent-encoding: RFC 3986 unreserved kept, space as %20, '*' as %2A.
    return quote(value, safe="-_.~").replace("+", "%20").replace("*", "%2A")


def alibaba_app(state: SmsProvider, secret: str) -> FastAPI:
    app = FastAPI()

    @app.post("/")
    async def send_sms(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        params = {k: str(v) for k, v in form.items() if k != "Signature"}
        canonical = "&".join(f"{_pct(k)}={_pct(v)}" for k, v in sorted(params.items()))
        to_sign = "POST&%2F&" + _pct(canonical)
        expected = base64.b64encode(
            hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
        ).decode()
        if form.get("Signature") != expected:
            state.bad_signatures += 1
            return JSONResponse({"Code": "SignatureDoesNotMatch", "Message": "bad"}, 400)
        phone = params["PhoneNumbers"]
        verdict = state.verdict(phone)  # on arrival, as a provider counts its rate limit
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        if verdict == "throttle":
            return JSONResponse({"Code": "Throttling.User", "Message": "slow down"})
        if verdict == "transient":
            return JSONResponse({"Code": "isp.SYSTEM_ERROR", "Message": "busy"})
        if verdict == "permanent":
            return JSONResponse({"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "bad number"})
        biz_id = f"{uuid.uuid4().hex[:18]}^0"
        state.sent.append(
            {
                "phone": phone,
                "template": params["TemplateCode"],
                "sign": params["SignName"],
                "params": json.loads(params["TemplateParam"]),
                "out_id": params.get("OutId"),
                "id": biz_id,
            }
        )
        return JSONResponse(
            {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": str(uuid.uuid4())}
        )

    @app.get("/stats")
    async def stats() -> dict[str, int]:
        out_ids = [m["out_id"] for m in state.sent]
        return {
            "sent": len(out_ids),
            "distinct": len(set(out_ids)),
            "bad_signatures": state.bad_signatures,
            "throttled": state.throttled,
        }

    return app


def tencent_app(state: SmsProvider, secret_id: str, secret_key: str) -> FastAPI:
    app = FastAPI()

    @app.post("/")
    async def send_sms(request: Request) -> JSONResponse:
        payload = await request.body()
        h = request.headers
        ts = int(h["x-tc-timestamp"])
        day = time.strftime("%Y-%m-%d", time.gmtime(ts))
        auth = h["authorization"]
        signed_headers = auth.split("SignedHeaders=")[1].split(",")[0]
        canonical_headers = "".join(
            f"{name}:{h[name].strip().lower() if name == 'x-tc-action' else h[name].strip()}\n"
            for name in signed_headers.split(";")
        )
        digest = hashlib.sha256(payload).hexdigest()
        canonical = f"POST\n/\n\n{canonical_headers}\n{signed_headers}\n{digest}"
        scope = f"{day}/sms/tc3_request"
        to_sign = (
            f"TC3-HMAC-SHA256\n{ts}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        k = hmac.new(("TC3" + secret_key).encode(), day.encode(), hashlib.sha256).digest()
        k = hmac.new(k, b"sms", hashlib.sha256).digest()
        k = hmac.new(k, b"tc3_request", hashlib.sha256).digest()
        expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        if f"Credential={secret_id}/{scope}" not in auth or not auth.endswith(
            f"Signature={expected}"
        ):
            state.bad_signatures += 1
            return JSONResponse(
                {
                    "Response": {
                        "Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad"},
                        "RequestId": "x",
                    }
                }
            )
        body = json.loads(payload)
        phone = body["PhoneNumberSet"][0]
        verdict = state.verdict(phone)  # on arrival, as a provider counts its rate limit
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        if verdict == "throttle":
            return JSONResponse(
                {
                    "Response": {
                        "Error": {"Code": "RequestLimitExceeded", "Message": "slow"},
                        "RequestId": "x",
                    }
                }
            )
        code = {
            "ok": "Ok",
            "transient": "InternalError",
            "permanent": "InvalidParameterValue.IncorrectPhoneNumber",
        }[verdict]
        serial = f"2640:{uuid.uuid4().hex}"
        if verdict == "ok":
            state.sent.append(
                {
                    "phone": phone,
                    "template": body["TemplateId"],
                    "sign": body["SignName"],
                    "params": body["TemplateParamSet"],
                    "out_id": body.get("SessionContext"),
                    "id": serial,
                }
            )
        status = {
            "SerialNo": serial,
            "PhoneNumber": phone,
            "Fee": 1,
            "Code": code,
            "Message": code,
            "IsoCode": "CN",
        }
        return JSONResponse(
            {"Response": {"SendStatusSet": [status], "RequestId": str(uuid.uuid4())}}
        )

    return app


@dataclass
class Inbox:
    """What the WeChat and push fakes received, and how the WeChat fake misbehaves."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    token_requests: int = 0
    forced_refreshes: int = 0
    subscribed: list[dict[str, Any]] = field(default_factory=list)
    refused_openids: set[str] = field(default_factory=set)  # 43101: no subscription
    busy: int = 0  # the next sends answer -1 (system busy)
    expire_after: int | None = None  # the token is invalidated after this many sends (42001)
    token: str = "TOKEN-1"
    _tokens_issued: int = 1
    _sends: int = 0
    _msgid: int = 1700827132819554304


def _subscribe_value_ok(keyword: str, value: str) -> bool:
    """WeChat's documented rules for a few keyword types (enough for the tests)."""
    kind = keyword.rstrip("0123456789")
    if any(ord(c) < 32 for c in value):
        return False
    if kind == "thing":
        return len(value) <= 20
    if kind == "amount":
        digits = value.lstrip("¥￥$").removesuffix("元")
        return digits.replace(".", "", 1).isdigit() and len(digits.replace(".", "")) <= 10
    if kind == "character_string":
        return len(value) <= 32 and all(33 <= ord(c) <= 126 for c in value)
    if kind in {"time", "date"}:
        return "年" in value or "-" in value or ":" in value
    return True


def wechat_app(state: Inbox, app_id: str, app_secret: str) -> FastAPI:
    app = FastAPI()

    def issue(force: bool) -> dict[str, Any]:
        state.token_requests += 1
        if force:
            state.forced_refreshes += 1
        if force or state.token == "":
            state._tokens_issued += 1
            state.token = f"TOKEN-{state._tokens_issued}"
        return {"access_token": state.token, "expires_in": 7200}

    @app.get("/cgi-bin/token")
    async def token(grant_type: str, appid: str, secret: str) -> dict[str, Any]:
        if appid != app_id or secret != app_secret:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        return issue(force=True)  # the classic call replaces the token each time

    @app.post("/cgi-bin/stable_token")
    async def stable_token(request: Request) -> dict[str, Any]:
        body = await request.json()
        if body.get("appid") != app_id or body.get("secret") != app_secret:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        return issue(force=bool(body.get("force_refresh")))

    def check_token(access_token: str) -> dict[str, Any] | None:
        state._sends += 1
        if state.expire_after is not None and state._sends > state.expire_after:
            state.expire_after = None
            state.token = ""  # expired: the next stable_token call issues a new one
        if access_token != state.token or not state.token:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        if state.busy > 0:
            state.busy -= 1
            return {"errcode": -1, "errmsg": "system error"}
        return None

    @app.post("/cgi-bin/message/template/send")
    async def send(request: Request, access_token: str) -> dict[str, Any]:
        refused = check_token(access_token)
        if refused:
            return refused
        state.messages.append(await request.json())
        state._msgid += 1
        return {"errcode": 0, "errmsg": "ok", "msgid": state._msgid}

    @app.post("/cgi-bin/message/subscribe/send")
    async def subscribe_send(request: Request, access_token: str) -> dict[str, Any]:
        refused = check_token(access_token)
        if refused:
            return refused
        body = await request.json()
        if body["touser"] in state.refused_openids:
            return {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
        for keyword, item in body["data"].items():
            if not _subscribe_value_ok(keyword, item["value"]):
                return {"errcode": 47003, "errmsg": f"argument invalid! data.{keyword}.value"}
        state.subscribed.append(body)
        state._msgid += 1
        return {"errcode": 0, "errmsg": "ok", "msgid": state._msgid}

    return app


class WeChatPusher:
    """Plays WeChat's message push to our server URL: signs (and in safe mode encrypts) the
    XML as WeChat does, with hashlib and the cryptography library, not the adapter's code."""

    def __init__(self, token: str, app_id: str, encoding_aes_key: str | None = None) -> None:
        self.token, self.app_id, self.aes_key = token, app_id, encoding_aes_key

    def sign(self, *parts: str) -> str:
        return hashlib.sha1("".join(sorted([self.token, *parts])).encode()).hexdigest()

    def encrypt(self, xml: str) -> str:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        assert self.aes_key is not None
        key = base64.b64decode(self.aes_key + "=")
        raw = xml.encode()
        body = uuid.uuid4().bytes + len(raw).to_bytes(4, "big") + raw + self.app_id.encode()
        pad = 32 - len(body) % 32
        body += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()

    def request(self, xml: str, *, safe: bool = False) -> tuple[dict[str, str], str]:
        """Query parameters and body of one push."""
        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        params = {
            "signature": self.sign(timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": "o-sender",
        }
        if not safe:
            return params, xml
        encrypted = self.encrypt(xml)
        params |= {"encrypt_type": "aes", "msg_signature": self.sign(timestamp, nonce, encrypted)}
        return (
            params,
            f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>",
        )


def template_finished(msgid: str, status: str, openid: str = "oWX123") -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        "<CreateTime>1774834805</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
        f"<MsgID>{msgid}</MsgID><Status><![CDATA[{status}]]></Status></xml>"
    )


def subscribe_sent(items: list[tuple[str, int, str]], openid: str = "oMP456") -> str:
    """``items``: (msgid, ErrorCode, ErrorStatus)."""
    rows = "".join(
        f"<List><TemplateId><![CDATA[TPL-SUB]]></TemplateId><MsgID>{msgid}</MsgID>"
        f"<ErrorCode>{code}</ErrorCode><ErrorStatus><![CDATA[{status}]]></ErrorStatus></List>"
        for msgid, code, status in items
    )
    return (
        "<xml><ToUserName><![CDATA[gh_123456789abc]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        "<CreateTime>1774834805</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[subscribe_msg_sent_event]]></Event>"
        f"<SubscribeMsgSentEvent>{rows}</SubscribeMsgSentEvent></xml>"
    )


def push_app(state: Inbox, secret: str) -> FastAPI:
    app = FastAPI()

    @app.post("/push")
    async def push(request: Request) -> JSONResponse:
        body = await request.body()
        ts = request.headers["x-propfee-timestamp"]
        expected = (
            "sha256="
            + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, request.headers.get("x-propfee-signature", "")):
            state.bad_signatures += 1
            return JSONResponse({"error": "bad signature"}, 401)
        state.messages.append(json.loads(body))
        return JSONResponse({"push_id": f"push-{len(state.messages)}"})

    return app


class SmtpServer:
    """A minimal real SMTP server (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA, RSET, QUIT)."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.port = free_port()
        self.messages: list[dict[str, Any]] = []
        self.refuse = refuse or set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def say(line: str) -> None:
            writer.write(f"{line}\r\n".encode())

        say("220 fake-smtp ready")
        sender, rcpts = "", []
        while line := (await reader.readline()).decode().rstrip("\r\n"):
            verb = line.split(" ", 1)[0].upper()
            if verb in {"EHLO", "HELO"}:
                say("250-fake-smtp\r\n250 8BITMIME" if verb == "EHLO" else "250 fake-smtp")
            elif verb == "MAIL":
                sender, rcpts = line.split(":", 1)[1].strip().split(" ")[0].strip("<>"), []
                say("250 OK")
            elif verb == "RCPT":
                rcpt = line.split(":", 1)[1].strip().split(" ")[0].strip("<>")
                if rcpt in self.refuse:
                    say("550 no such user")
                else:
                    rcpts.append(rcpt)
                    say("250 OK")
            elif verb == "DATA":
                say("354 end with .")
                await writer.drain()
                data = []
                while (chunk := (await reader.readline()).decode()) not in {".\r\n", ".\n", ""}:
                    data.append(chunk[1:] if chunk.startswith("..") else chunk)
                queue_id = uuid.uuid4().hex[:10]
                self.messages.append(
                    {"from": sender, "to": rcpts, "data": "".join(data), "queue_id": queue_id}
                )
                say(f"250 OK queued as {queue_id}")
            elif verb == "QUIT":
                say("221 bye")
                await writer.drain()
                break
            else:
                say("250 OK")
            await writer.drain()
        writer.close()

    def start(self) -> SmtpServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._session, "127.0.0.1", self.port), self._loop
        )
        self._server = future.result(timeout=5)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
