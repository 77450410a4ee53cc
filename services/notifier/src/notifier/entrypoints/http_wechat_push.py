"""WeChat's message push to our server URL (服务器配置), official account and mini program:
the GET that verifies the URL, and the POSTed XML events that prove delivery -
``TEMPLATESENDJOBFINISH`` (template messages: ``Status`` success, "failed:user block",
"failed: system failed") and ``subscribe_msg_sent_event`` (subscription messages: each
``List`` item's ``ErrorCode``, 0 delivered).

``signature`` covers only the token, timestamp and nonce: in plaintext mode a captured query
string would let anyone post any body. So (issue 16, item 11):

- with an EncodingAESKey configured, only safe mode is accepted (``encrypt_type=aes``, the
  body's ``Encrypt`` AES-256-CBC under the key, ``msg_signature`` = SHA-1 of the sorted
  ``[token, timestamp, nonce, Encrypt]``, so the signature covers the body); a plaintext push
  is refused (401);
- ``timestamp`` must be within ``NOTIFIER_WECHAT_PUSH_MAX_AGE_S`` (default 300 s) of now
  (401 otherwise), and a push seen within that window (same signature: same timestamp, nonce
  and, in safe mode, body) is acknowledged and changes nothing (``wechat_push_seen``);
- plaintext mode (no key configured) keeps the freshness window and replay protection.

A push that does not verify is refused (401) and changes nothing. A verified one is stored as
delivery receipts and applied like the SMS providers' reports: the message becomes delivered
(or failed, and the next channel is queued), once, whatever the number of times WeChat
repeats the push.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse

from notifier.adapters.wechat_crypto import MessageCrypto, PushRefused, verify
from notifier.service_layer import messages
from notifier.service_layer.receipts import Receipt
from notifier.settings import NotifierSettings
from propfee.auth import open_route
from propfee.http import Pool
from propfee.problems import problem_responses

router = APIRouter(tags=["receipts"])
MAX_BODY = 64 * 1024
KEPT = ("ToUserName", "CreateTime", "MsgType", "Event", "MsgID", "Status")  # no openid


def _settings(request: Request) -> NotifierSettings:
    settings: NotifierSettings = request.app.state.runtime.settings
    if not settings.wechat_callback_token.get_secret_value():
        raise HTTPException(404, "WeChat message push is not configured")
    return settings


def _fresh(timestamp: str, max_age_s: int) -> None:
    """401 unless ``timestamp`` (seconds) is within ``max_age_s`` of now, either side."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise HTTPException(401, "bad timestamp")
    if abs(time.time() - int(timestamp)) > max_age_s:
        raise HTTPException(
            401, f"stale timestamp: more than {max_age_s} s from now (replayed or delayed)"
        )


def _parse(xml: bytes | str) -> ET.Element:
    """WeChat's XML; a document type (entities) is never WeChat's and is refused unread."""
    head = xml.lower() if isinstance(xml, bytes) else xml.lower().encode()
    if b"<!doctype" in head or b"<!entity" in head:
        raise HTTPException(400, "document types are not accepted")
    try:
        return ET.fromstring(xml)
    except ET.ParseError as exc:
        raise HTTPException(400, f"not XML: {exc}") from exc


def _at(root: ET.Element) -> datetime | None:
    created = (root.findtext("CreateTime") or "").strip()
    return datetime.fromtimestamp(int(created), UTC) if created.isdigit() else None


def receipts_of(root: ET.Element) -> list[Receipt]:
    """Delivery receipts in one push (none for other events and messages)."""
    event = (root.findtext("Event") or "").strip()
    at = _at(root)
    raw = {name: (root.findtext(name) or "").strip() for name in KEPT}
    if event == "TEMPLATESENDJOBFINISH":
        msgid, status = (root.findtext("MsgID") or "").strip(), (root.findtext("Status") or "")
        if not msgid:
            return []
        return [Receipt("wechat", msgid, status.strip() == "success", status.strip(), at, raw)]
    if event == "subscribe_msg_sent_event":
        found = []
        for item in root.iterfind("SubscribeMsgSentEvent/List"):
            msgid = (item.findtext("MsgID") or "").strip()
            code = (item.findtext("ErrorCode") or "").strip()
            status = (item.findtext("ErrorStatus") or "").strip() or f"ErrorCode {code}"
            if msgid:
                detail = {
                    **raw,
                    "MsgID": msgid,
                    "ErrorCode": code,
                    "ErrorStatus": status,
                    "TemplateId": (item.findtext("TemplateId") or "").strip(),
                }
                found.append(Receipt("wechat_subscribe", msgid, code == "0", status, at, detail))
        return found
    return []


@router.get(
    "/receipts/wechat",
    response_class=PlainTextResponse,
    openapi_extra=open_route("signature"),
    responses=problem_responses(
        401, 404, **{"401": "Bad or stale signature", "404": "Message push not configured"}
    ),
)
async def verify_wechat_server(
    request: Request,
    signature: str = "",
    timestamp: str = "",
    nonce: str = "",
    echostr: str = "",
) -> PlainTextResponse:
    """WeChat checks the server URL: echo ``echostr`` when the signature verifies."""
    s = _settings(request)
    if not verify(signature, s.wechat_callback_token.get_secret_value(), timestamp, nonce):
        raise HTTPException(401, "bad signature")
    _fresh(timestamp, s.wechat_push_max_age_s)
    return PlainTextResponse(echostr)


@router.post(
    "/receipts/wechat",
    response_class=PlainTextResponse,
    openapi_extra=open_route("signature"),
    responses=problem_responses(
        400,
        401,
        404,
        413,
        503,
        **{
            "400": "Not WeChat's XML",
            "401": "Bad or stale signature, or plaintext in safe mode",
            "404": "Message push not configured",
            "503": "Our EncodingAESKey is wrong",
        },
    ),
)
async def receive_wechat_push(
    request: Request,
    pool: Pool,
    signature: str = "",
    timestamp: str = "",
    nonce: str = "",
    encrypt_type: Annotated[str, Query()] = "",
    msg_signature: str = "",
) -> PlainTextResponse:
    """Delivery events pushed by WeChat (XML); answered "success" once recorded (or when it
    is a replay of a push already handled, which changes nothing)."""
    s = _settings(request)
    token = s.wechat_callback_token.get_secret_value()
    if not verify(signature, token, timestamp, nonce):
        raise HTTPException(401, "bad signature")
    _fresh(timestamp, s.wechat_push_max_age_s)
    key = s.wechat_encoding_aes_key.get_secret_value()
    if key and encrypt_type != "aes":
        raise HTTPException(401, "safe mode is configured: plaintext pushes are refused")
    if encrypt_type and encrypt_type != "aes":
        raise HTTPException(401, f"unknown encrypt_type {encrypt_type[:20]!r}")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, "push too large")
    root = _parse(body)
    seen = signature.lower()
    if encrypt_type == "aes":
        if not key:
            raise HTTPException(401, "safe mode push but no EncodingAESKey configured")
        try:
            crypto = MessageCrypto(token, key, s.wechat_app_id)
            inner = crypto.decrypt(
                root.findtext("Encrypt") or "",
                msg_signature=msg_signature,
                timestamp=timestamp,
                nonce=nonce,
            )
        except PushRefused as exc:
            raise HTTPException(401, str(exc)) from exc
        except ValueError as exc:  # our EncodingAESKey is wrong, not the push
            raise HTTPException(503, f"WeChat safe mode misconfigured: {exc}") from exc
        root = _parse(inner)
        seen = msg_signature.lower()
    await messages.wechat_push(
        pool, receipts_of(root), s, seen=seen, timestamp=int(timestamp), nonce=nonce
    )
    return PlainTextResponse("success")
