"""A minimal real ESMTP server (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, VRFY,
QUIT; no STARTTLS) on its own event loop in a daemon thread.

Each message is kept (``messages``: from, to, data, subject, text, queue id) and handed to
``on_accept`` per recipient. A recipient in ``refuse`` is answered ``550`` (no such mailbox);
a malformed address ``501``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
from collections.abc import Callable, Collection
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from sandbox.server import free_port

EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
#: ``on_accept(recipient, subject, sender, text)``; ``on_refuse()``.
OnAccept = Callable[[str, str, str, str | None], None]


class SmtpServer:
    """The server; ``port`` None: a free one."""

    MAX_SIZE = 10 * 1024 * 1024

    def __init__(
        self,
        port: int | None = None,
        *,
        refuse: Collection[str] = (),
        on_accept: OnAccept | None = None,
        on_refuse: Callable[[], None] | None = None,
        keep: bool = True,
    ) -> None:
        self.port = port if port is not None else free_port()
        self.refuse = set(refuse)
        self.on_accept = on_accept
        self.on_refuse = on_refuse
        self.keep = keep
        self.messages: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sandbox-smtp", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    def start(self) -> SmtpServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._session, "127.0.0.1", self.port, reuse_address=True),
            self._loop,
        )
        try:
            self._server = future.result(timeout=10)
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()
            raise
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._sessions):
                task.cancel()
            await asyncio.gather(*self._sessions, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            if task is not None:
                self._sessions.discard(task)
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(*lines: str) -> None:
            writer.write("".join(f"{line}\r\n" for line in lines).encode())
            await writer.drain()

        await say("220 sandbox.propfee.local ESMTP ready")
        greeted = False
        sender: str | None = None
        recipients: list[str] = []
        while True:
            raw = await reader.readline()
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                greeted, sender, recipients = True, None, []
                await say(
                    "250-sandbox.propfee.local",
                    "250-8BITMIME",
                    "250-SMTPUTF8",
                    f"250-SIZE {self.MAX_SIZE}",
                    "250 ENHANCEDSTATUSCODES",
                )
            elif verb == "HELO":
                greeted, sender, recipients = True, None, []
                await say("250 sandbox.propfee.local")
            elif verb == "MAIL":
                address = smtp_path(arg, "FROM")
                if not greeted:
                    await say("503 5.5.1 Error: send HELO/EHLO first")
                elif sender is not None:
                    await say("503 5.5.1 Error: nested MAIL command")
                elif address is None or (address and not EMAIL.match(address)):
                    await say("501 5.1.7 Bad sender address syntax")
                else:
                    sender, recipients = address, []
                    await say("250 2.1.0 Ok")
            elif verb == "RCPT":
                address = smtp_path(arg, "TO")
                if sender is None:
                    await say("503 5.5.1 Error: need MAIL command")
                elif not address or not EMAIL.match(address):
                    if self.on_refuse is not None:
                        self.on_refuse()
                    await say("501 5.1.3 Bad recipient address syntax")
                elif address in self.refuse:
                    if self.on_refuse is not None:
                        self.on_refuse()
                    await say(f"550 5.1.1 <{address}>: Recipient address rejected: no such user")
                elif len(recipients) >= 100:
                    await say("452 4.5.3 Error: too many recipients")
                else:
                    recipients.append(address)
                    await say("250 2.1.5 Ok")
            elif verb == "DATA":
                if sender is None or not recipients:
                    await say("554 5.5.1 Error: no valid recipients")
                    continue
                await say("354 End data with <CR><LF>.<CR><LF>")
                data, size = bytearray(), 0
                while True:
                    chunk = await reader.readline()
                    if not chunk:
                        return
                    if chunk in (b".\r\n", b".\n"):
                        break
                    if chunk.startswith(b"."):
                        chunk = chunk[1:]
                    size += len(chunk)
                    if size <= self.MAX_SIZE:
                        data += chunk
                if size > self.MAX_SIZE:
                    await say("552 5.3.4 Error: message file too big")
                else:
                    queue_id = secrets.token_hex(5).upper()
                    self._deliver(bytes(data), sender, recipients, queue_id)
                    await say(f"250 2.0.0 Ok: queued as {queue_id}")
                sender, recipients = None, []
            elif verb == "RSET":
                sender, recipients = None, []
                await say("250 2.0.0 Ok")
            elif verb == "NOOP":
                await say("250 2.0.0 Ok")
            elif verb == "VRFY":
                await say("252 2.0.0 Cannot VRFY user")
            elif verb == "STARTTLS":
                await say("454 4.7.0 TLS not available")
            elif verb == "QUIT":
                await say("221 2.0.0 Bye")
                return
            else:
                await say("502 5.5.2 Error: command not recognized")

    def _deliver(self, data: bytes, sender: str, recipients: list[str], queue_id: str) -> None:
        message = BytesParser(policy=policy.default).parsebytes(data)
        subject = str(message.get("Subject", ""))
        text: str | None = None
        if isinstance(message, EmailMessage):
            part = message.get_body(preferencelist=("plain", "html"))
            if isinstance(part, EmailMessage):
                try:
                    text = str(part.get_content())
                except (LookupError, ValueError):
                    text = None
        if self.keep:
            self.messages.append(
                {
                    "from": sender,
                    "to": list(recipients),
                    "data": data.decode("utf-8", errors="replace"),
                    "subject": subject,
                    "text": text,
                    "queue_id": queue_id,
                }
            )
        if self.on_accept is not None:
            for rcpt in recipients:
                self.on_accept(rcpt, subject, str(message.get("From", "")), text)


def smtp_path(arg: str, keyword: str) -> str | None:
    """``FROM:<a@b.cn> SIZE=12`` → ``a@b.cn``; None when it is not that command's syntax."""
    head, sep, rest = arg.partition(":")
    if not sep or head.strip().upper() != keyword:
        return None
    path = rest.strip().split(" ", 1)[0]
    if not (path.startswith("<") and path.endswith(">")):
        return None
    return path[1:-1]
