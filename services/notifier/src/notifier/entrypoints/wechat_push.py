"""WeChat's message push to our server URL (服务器配置), official account and mini program:
the GET that verifies the URL, and the POSTed XML events that prove delivery -
``TEMPLATESENDJOBFINISH`` (template messages: ``Status`` success, "failed:user block",
"failed: system failed") and ``subscribe_msg_sent_event`` (subscription messages: each
``List`` item's ``ErrorCode``, 0 delivered). Plaintext mode and safe mode (``encrypt_type=aes``,
``msg_signature`` and the AES-encrypted ``Encrypt``) are both accepted.

A push whose signature does not verify is refused (401) and changes nothing. A verified one
is stored as delivery receipts and applied like the SMS providers' reports: the message
becomes delivered (or failed, and the next channel is queued), once, whatever the number of
times WeChat repeats the push.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse

from notifier.adapters.wechat_crypto import MessageCrypto, PushRefused, verify
from notifier.entrypoints.http import _store_and_apply
from notifier.service_layer.receipts import Receipt
from notifier.settings import NotifierSettings
from propfee.auth import open_route
from propfee.http import Pool

router = APIRouter(tags=["notifier"])
MAX_BODY = 64 * 1024
KEPT = ("ToUserName", "CreateTime", "MsgType", "Event", "MsgID", "Status")  # no openid


def _settings(request: Request) -> NotifierSettings:
    settings: NotifierSettings = request.app.state.runtime.settings
    if not settings.wechat_callback_token.get_secret_value():
        raise HTTPException(404, "WeChat message push is not configured")
    return settings


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
    "/receipts/wechat", response_class=PlainTextResponse, openapi_extra=open_route("signature")
)
async def verify_server(
    request: Request,
    signature: str = "",
    timestamp: str = "",
    nonce: str = "",
    echostr: str = "",
) -> PlainTextResponse:
    """WeChat checks the server URL: echo ``echostr`` when the signature verifies."""
    token = _settings(request).wechat_callback_token.get_secret_value()
    if not verify(signature, token, timestamp, nonce):
        raise HTTPException(401, "bad signature")
    return PlainTextResponse(echostr)


@router.post(
    "/receipts/wechat", response_class=PlainTextResponse, openapi_extra=open_route("signature")
)
async def wechat_push(
    request: Request,
    pool: Pool,
    signature: str = "",
    timestamp: str = "",
    nonce: str = "",
    encrypt_type: Annotated[str, Query()] = "",
    msg_signature: str = "",
) -> PlainTextResponse:
    """Delivery events pushed by WeChat (XML); answered "success" once recorded."""
    s = _settings(request)
    token = s.wechat_callback_token.get_secret_value()
    if not verify(signature, token, timestamp, nonce):
        raise HTTPException(401, "bad signature")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, "push too large")
    root = _parse(body)
    if encrypt_type == "aes":
        key = s.wechat_encoding_aes_key.get_secret_value()
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
    found = receipts_of(root)
    if found:
        await _store_and_apply(request, pool, found)
    return PlainTextResponse("success")
