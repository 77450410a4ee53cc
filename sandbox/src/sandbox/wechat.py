"""The WeChat official account / mini program API (``/cgi-bin/...``), and WeChat's message push
to our server.

* Access tokens: ``/cgi-bin/token`` issues a new token on each call, the previous one staying
  valid for five more minutes; ``/cgi-bin/stable_token`` answers the same token until it
  expires, ``force_refresh`` replaces it at once. Wrong appid 40013, wrong secret 40125,
  wrong grant_type 40002. (Simplification: both calls share the one current token.)
* Sends (template, subscription): an unknown token 40001, an expired one 42001; openid 40003,
  template 40037; a subscription the user refused 43101; a subscription value outside its
  keyword type's rules 47003 (:func:`subscribe_value_ok`).
* Push (WeChat → us): ``signature`` = SHA1 of the sorted token, timestamp and nonce; in safe
  mode the XML AES-256-CBC encrypted with the EncodingAESKey and ``msg_signature`` over the
  ciphertext too (:class:`WeChatPusher`).

:class:`Inbox` holds what the API accepted and how it misbehaves (busy, refused openids, a
token expiring); :class:`WechatApi` is the server; :class:`WechatRoutes` mounts it in the
demo's world.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from sandbox.state import WorldState, json_response, subject_kind

#: WeChat's openids are 28 characters; the tests' short ones are accepted too.
OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOKEN_TTL_S = 7200
#: How long a replaced ``/cgi-bin/token`` token keeps working.
TOKEN_OVERLAP_S = 300


@dataclass
class Inbox:
    """What the WeChat API (or the push webhook) received, and how WeChat misbehaves."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    token_requests: int = 0
    forced_refreshes: int = 0
    subscribed: list[dict[str, Any]] = field(default_factory=list)
    refused_openids: set[str] = field(default_factory=set)  # 43101: no subscription
    busy: int = 0  # the next sends answer -1 (system busy)
    expire_after: int | None = None  # the token expires after this many sends (42001)
    #: The current token ("": none yet or expired); set it to invalidate the one in use.
    token: str = ""
    token_expiry: float = 0.0  # monotonic
    previous: dict[str, float] = field(default_factory=dict)  # replaced token → until
    _sends: int = 0
    _msgid: int = 1700827132819554304


def subscribe_value_ok(keyword: str, value: str) -> bool:
    """WeChat's documented rules for subscription-message keyword types (the common ones)."""
    kind = keyword.rstrip("0123456789")
    if not value or any(ord(c) < 32 for c in value):
        return False
    if kind == "thing":
        return len(value) <= 20
    if kind == "phrase":
        return len(value) <= 5
    if kind == "character_string":
        return len(value) <= 32 and all(33 <= ord(c) <= 126 for c in value)
    if kind == "number":
        return len(value) <= 32 and value.replace(".", "", 1).lstrip("-").isdigit()
    if kind == "amount":  # one currency sign, 10 digits at most, maybe decimals, maybe 元
        digits = value.removeprefix("¥").removeprefix("￥").removeprefix("$").removesuffix("元")
        return len(digits.replace(".", "")) <= 10 and digits.replace(".", "", 1).isdigit()
    if kind in ("time", "date"):
        return bool(re.search(r"\d{4}[-年/]\d{1,2}|\d{1,2}:\d{2}", value))
    return len(value) <= 64


#: ``on_accept(touser, template_id, body, subscription)``; ``on_refuse(credential: bool)``.
OnAccept = Callable[[str, str, dict[str, Any], bool], None]
OnRefuse = Callable[[bool], None]


class WechatApi:
    """The API at ``/cgi-bin/...``. ``template_ids`` None: any template is the account's."""

    def __init__(
        self,
        state: Inbox,
        app_id: str,
        app_secret: str,
        *,
        template_ids: Collection[str] | None = None,
        on_accept: OnAccept | None = None,
        on_refuse: OnRefuse | None = None,
    ) -> None:
        self.state = state
        self.app_id = app_id
        self.app_secret = app_secret
        self.template_ids = template_ids
        self.on_accept = on_accept
        self.on_refuse = on_refuse
        send = ["POST"]
        self.app = Starlette(
            routes=[
                Route("/cgi-bin/token", self.token, methods=["GET"]),
                Route("/cgi-bin/stable_token", self.stable_token, methods=["POST"]),
                Route("/cgi-bin/message/template/send", self.send, methods=send),
                Route("/cgi-bin/message/subscribe/send", self.send, methods=send),
                Route("/cgi-bin/message/subscribe/bizsend", self.send, methods=send),
            ]
        )

    def _refused(self, credential: bool, errcode: int, errmsg: str) -> Response:
        if self.on_refuse is not None:
            self.on_refuse(credential)
        return json_response({"errcode": errcode, "errmsg": errmsg})

    def _credentials(self, grant_type: Any, appid: Any, secret: Any) -> Response | None:
        self.state.token_requests += 1
        if grant_type != "client_credential":
            return self._refused(False, 40002, "invalid grant_type")
        if appid != self.app_id:
            return self._refused(True, 40013, "invalid appid")
        if not isinstance(secret, str) or not hmac.compare_digest(secret, self.app_secret):
            return self._refused(True, 40125, "invalid appsecret")
        return None

    def _issue(self, now: float) -> None:
        self.state.token = secrets.token_urlsafe(96)
        self.state.token_expiry = now + TOKEN_TTL_S

    async def token(self, request: Request) -> Response:
        q = request.query_params
        refused = self._credentials(q.get("grant_type"), q.get("appid"), q.get("secret"))
        if refused is not None:
            return refused
        state, now = self.state, time.monotonic()
        state.previous = {t: until for t, until in state.previous.items() if until > now}
        if state.token and state.token_expiry > now:
            state.previous[state.token] = min(state.token_expiry, now + TOKEN_OVERLAP_S)
        self._issue(now)
        return json_response({"access_token": state.token, "expires_in": TOKEN_TTL_S})

    async def stable_token(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._refused(False, 47001, "data format error")
        refused = self._credentials(body.get("grant_type"), body.get("appid"), body.get("secret"))
        if refused is not None:
            return refused
        state, now = self.state, time.monotonic()
        force = body.get("force_refresh") is True
        if force:
            state.forced_refreshes += 1
        if force or not state.token or state.token_expiry <= now:
            self._issue(now)
        expires_in = max(1, int(state.token_expiry - now))
        return json_response({"access_token": state.token, "expires_in": expires_in})

    def _check_token(self, token: str) -> Response | None:
        state, now = self.state, time.monotonic()
        state._sends += 1
        if state.expire_after is not None and state._sends > state.expire_after:
            state.expire_after = None
            state.token_expiry = now  # expired: the next stable_token call issues a new one
        if token and token == state.token:
            if state.token_expiry <= now:
                return self._refused(True, 42001, "access_token expired")
        elif state.previous.get(token, 0.0) <= now:
            return self._refused(
                True, 40001, "invalid credential, access_token is invalid or not latest"
            )
        if state.busy > 0:
            state.busy -= 1
            return json_response({"errcode": -1, "errmsg": "system error"})
        return None

    async def send(self, request: Request) -> Response:
        refused = self._check_token(request.query_params.get("access_token", ""))
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("data", {}), dict):
            return self._refused(False, 47001, "data format error")
        touser = str(body.get("touser", ""))
        if not OPENID.match(touser):
            return self._refused(False, 40003, "invalid openid")
        template_id = str(body.get("template_id", ""))
        if self.template_ids is not None and template_id not in self.template_ids:
            return self._refused(False, 40037, "invalid template_id")
        subscription = request.url.path.endswith(("/subscribe/send", "/subscribe/bizsend"))
        if subscription:
            if touser in self.state.refused_openids:
                return self._refused(False, 43101, "user refuse to accept the msg")
            for keyword, item in (body.get("data") or {}).items():
                value = item.get("value") if isinstance(item, dict) else None
                if not isinstance(value, str) or not subscribe_value_ok(str(keyword), value):
                    return self._refused(False, 47003, f"argument invalid! data.{keyword}.value")
            self.state.subscribed.append(body)
        else:
            self.state.messages.append(body)
        if self.on_accept is not None:
            self.on_accept(touser, template_id, body, subscription)
        self.state._msgid += 1
        return json_response({"errcode": 0, "errmsg": "ok", "msgid": self.state._msgid})


def wechat_app(state: Inbox, app_id: str, app_secret: str, **options: Any) -> Starlette:
    return WechatApi(state, app_id, app_secret, **options).app


# ------------------------------------------------------------------------------------------
# WeChat's message push to our server


class WeChatPusher:
    """Plays WeChat's message push to our server URL: signs (and in safe mode encrypts) the
    XML as WeChat does, with hashlib and the cryptography library, not the adapter's code."""

    def __init__(self, token: str, app_id: str, encoding_aes_key: str | None = None) -> None:
        self.token, self.app_id, self.aes_key = token, app_id, encoding_aes_key

    def sign(self, *parts: str) -> str:
        return hashlib.sha1("".join(sorted([self.token, *parts])).encode()).hexdigest()

    def encrypt(self, xml: str) -> str:
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
    """TEMPLATESENDJOBFINISH: a template message's delivery (``success``, ``failed:…``)."""
    return (
        "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        "<CreateTime>1774834805</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
        f"<MsgID>{msgid}</MsgID><Status><![CDATA[{status}]]></Status></xml>"
    )


def subscribe_sent(items: list[tuple[str, int, str]], openid: str = "oMP456") -> str:
    """subscribe_msg_sent_event; ``items``: (msgid, ErrorCode, ErrorStatus)."""
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


# ------------------------------------------------------------------------------------------
# the demo's world


class WechatRoutes(WorldState):
    """The official account at ``/wechat/cgi-bin/...`` (:class:`WechatApi`, the account's
    template ids); what it accepts becomes the world's messages."""

    def wechat_routes(self) -> list[Mount]:
        wechat = self.ids["wechat"]
        self.wechat = WechatApi(
            Inbox(),
            wechat["app_id"],
            wechat["app_secret"],
            template_ids=set(wechat["template_ids"].values()),
            on_accept=self._wechat_accepted,
            on_refuse=self._wechat_refused,
        )
        return [Mount("/wechat", app=self.wechat.app)]

    def _wechat_accepted(
        self, touser: str, template_id: str, body: dict[str, Any], subscription: bool
    ) -> None:
        self.wechat.state.messages.clear()  # the world's messages keep them
        self.wechat.state.subscribed.clear()
        data = body.get("data") or {}
        params = {str(k): (v.get("value") if isinstance(v, dict) else v) for k, v in data.items()}
        remark, first = params.get("remark"), params.get("first")
        kind = self._kinds.get(template_id) or (
            subject_kind(first) if isinstance(first, str) else None
        )
        text = remark if isinstance(remark, str) else None
        self._accept("wechat", touser, template_id, params, text, kind)

    def _wechat_refused(self, credential: bool) -> None:
        self._count("rejected_signatures.wechat" if credential else "rejected.wechat")
