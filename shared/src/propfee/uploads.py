"""Hostile files: what an upload may cost before a parser pays for it.

Ledgers, bank-withholding files and gateway statements come from outside, and a file can be
built to take a pod out of memory: a body of gigabytes, an XLSX of 10 MB that inflates to
50 GB (a zip bomb), a row of a million columns, a cell of 100 MB. Each limit here refuses
*before* the cost is paid, and says which limit and where (row, column):

* the body: :class:`BodySizeLimit`, an ASGI middleware on every service
  (``propfee.http.create_service_app``), answers 413 on a ``Content-Length`` above the limit
  without reading the body, and stops a streamed body at the limit: no route can forget it;
* an XLSX: :func:`check_xlsx` reads only the zip's directory (the declared sizes; Python's
  ``zipfile``, which openpyxl uses, never inflates a member past its declared size) and
  refuses a total size or a compression ratio above the limits before openpyxl opens it;
* the rows: :func:`limit_rows` wraps a row iterator (``csv.reader``, openpyxl's
  ``iter_rows``) and stops at the first row, column or cell past a limit, so a refused file
  is never held whole as rows; :func:`check_csv` runs it over a CSV text for parsers that
  read the text themselves.

Sizes are refused with 413, a row or cell that cannot be accepted with 422. The limits are
the service's settings (``<SERVICE>_MAX_UPLOAD_BYTES`` and the others in
``propfee.settings``); :func:`upload_limits` is the route dependency that reads them.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from propfee.problems import MEDIA_TYPE, problem
from propfee.settings import ServiceSettings

MiB = 1024 * 1024
#: A member smaller than this is not held to the ratio: it cannot inflate to much anyway.
RATIO_FLOOR_BYTES = 1 * MiB

RowT = TypeVar("RowT", bound=Sequence[Any])


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """The defaults are the settings' defaults (a ledger of a large community is ~2 MB).

    Reading a workbook costs about 4 bytes of memory per byte of its XML (openpyxl's shared
    strings and the rows the importer holds: 50 MB of cells measured 200 MB), so the inflated
    total, not the upload's size, is what keeps an import inside a pod's memory (768 MiB)."""

    max_bytes: int = 10 * MiB
    max_rows: int = 200_000
    max_columns: int = 256
    max_cell_chars: int = 10_000
    max_xlsx_ratio: int = 100
    max_xlsx_uncompressed_bytes: int = 50 * 1000 * 1000

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> UploadLimits:
        return cls(
            max_bytes=settings.max_upload_bytes,
            max_rows=settings.max_upload_rows,
            max_columns=settings.max_upload_columns,
            max_cell_chars=settings.max_upload_cell_chars,
            max_xlsx_ratio=settings.max_xlsx_ratio,
            max_xlsx_uncompressed_bytes=settings.max_xlsx_uncompressed_bytes,
        )


async def upload_limits(request: Request) -> UploadLimits:
    """The service's limits (its settings); defaults for an app without a runtime."""
    runtime = getattr(request.app.state, "runtime", None)
    settings = getattr(runtime, "settings", None)
    if isinstance(settings, ServiceSettings):
        return UploadLimits.from_settings(settings)
    return UploadLimits()


#: Route parameter: ``limits: Limits``.
Limits = Annotated[UploadLimits, Depends(upload_limits)]


class UploadRefused(HTTPException):
    """A file beyond a limit: 413 for a size, 422 for a row or a cell; the detail says where.

    An ``HTTPException`` so that it passes unchanged through FastAPI's body reading and the
    services' error mapping (which turn other errors into 400 or 422)."""

    def __init__(
        self, status_code: int, reason: str, *, row: int | None = None, column: int | None = None
    ) -> None:
        where = ", ".join(
            f"{name} {n}" for name, n in (("row", row), ("column", column)) if n is not None
        )
        super().__init__(status_code, f"{where}: {reason}" if where else reason)
        self.reason = reason
        self.row = row
        self.column = column


def _size(n: int) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n} bytes"


def body_too_large(max_bytes: int) -> UploadRefused:
    return UploadRefused(
        413, f"the request body is larger than {_size(max_bytes)}; send a smaller file"
    )


class BodySizeLimit:
    """Refuse request bodies above ``max_bytes`` (413) without reading them whole.

    A declared ``Content-Length`` above the limit is answered before the app runs; a body
    without one (chunked) is counted as the app reads it and refused at the limit (the
    exception reaches the app's handlers as an ``HTTPException``)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, body_too_large(self.max_bytes))
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise body_too_large(self.max_bytes)
            return message

        await self.app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


async def _refuse(send: Send, error: UploadRefused) -> None:
    body = json.dumps(problem(error.status_code, str(error.detail))).encode()
    headers = [
        (b"content-type", MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the unread body is not drained
    ]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def limit_rows(rows: Iterable[RowT], limits: UploadLimits) -> Iterator[RowT]:
    """The rows (numbered from 1) as they come, refused at the first one past a limit.

    The column count is the row's length as read, empty cells at its end included (that is
    what the reader holds in memory)."""
    for number, row in enumerate(rows, start=1):
        if number > limits.max_rows:
            raise UploadRefused(
                413,
                f"the file has more than {limits.max_rows} rows; split it into smaller files",
                row=number,
            )
        if len(row) > limits.max_columns:
            raise UploadRefused(
                422,
                f"the row has {len(row)} columns (empty ones at its end included); at most "
                f"{limits.max_columns} are accepted",
                row=number,
            )
        for column, cell in enumerate(row, start=1):
            if isinstance(cell, str) and len(cell) > limits.max_cell_chars:
                raise UploadRefused(
                    422,
                    f"the cell holds {len(cell)} characters; at most {limits.max_cell_chars} "
                    "are accepted",
                    row=number,
                    column=column,
                )
        yield row


def check_csv(text: str, limits: UploadLimits, *, delimiter: str = ",") -> None:
    """Refuse a CSV text past the row, column or cell limits, before a parser reads it."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for _ in limit_rows(reader, limits):
            pass
    except csv.Error as exc:  # e.g. a field above the csv module's own limit (128 KiB)
        raise UploadRefused(422, f"the CSV cannot be read: {exc}", row=reader.line_num) from exc


def check_xlsx(data: bytes, limits: UploadLimits) -> None:
    """Refuse a workbook that would inflate past the limits; reads only the zip's directory.

    Data that is no zip passes: the workbook reader then says what is wrong with it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return
    total = 0
    for member in members:
        total += member.file_size
        if total > limits.max_xlsx_uncompressed_bytes:
            raise UploadRefused(
                413,
                "the workbook inflates to more than "
                f"{_size(limits.max_xlsx_uncompressed_bytes)}; send a smaller file or a CSV",
            )
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_xlsx_ratio:
            raise UploadRefused(
                413,
                f"the workbook's part {member.filename[:100]!r} inflates {ratio:.0f}-fold "
                f"({_size(member.file_size)}); at most {limits.max_xlsx_ratio}-fold is "
                "accepted (a zip bomb?)",
            )
