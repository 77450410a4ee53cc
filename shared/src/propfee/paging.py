"""Cursor pagination for every collection: ``limit`` and ``cursor`` in, ``items`` and ``next``
out, and the next page's URL in a ``Link`` header (RFC 8288, ``rel="next"``).

Keyset, never offset: the cursor is the sort key of the last row served, so a page does not
shift when rows are added before it, and the query is an index range scan however deep the
page. The cursor is opaque to clients (base64url of a JSON array); a malformed one is 422.

A route::

    @router.get("/communities/{community_id}/units", response_model=Page[Unit])
    async def list_units(community_id: str, page: PageQuery, request: Request,
                         response: Response) -> Page[Unit]:
        rows = await registry.units(pool, community_id, after=page.after, limit=page.fetch)
        return page.build([Unit(**r) for r in rows], key=lambda u: [u.id],
                          request=request, response=response)

The query fetches ``page.fetch`` rows (one more than ``limit``) after ``page.after`` (the
decoded key, or None for the first page) in key order; ``build`` keeps ``limit`` of them and
makes ``next`` from the last one kept when there was more.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from propfee.problems import FieldProblem, InvalidInput

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class Page(BaseModel, Generic[T]):
    """One page of a collection."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [], "next": "WyJ1bml0LTAwMTIiXQ"}]}
    )

    items: list[T]
    next: str | None = Field(
        default=None,
        description="The cursor of the next page (pass it as `cursor`); null on the last page.",
    )


def encode_cursor(key: Sequence[Any]) -> str:
    """A sort key as an opaque cursor (dates and other values as their JSON/ISO text)."""
    raw = json.dumps(list(key), separators=(",", ":"), default=str, ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """The sort key a cursor holds; 422 (``errors[].field == "cursor"``) when it is not one."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode())
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise _bad_cursor() from exc
    if not isinstance(key, list) or not key:
        raise _bad_cursor()
    if not all(isinstance(v, str | int | float | bool) or v is None for v in key):
        raise _bad_cursor()
    return key


def _bad_cursor() -> InvalidInput:
    return InvalidInput(
        "cursor is not one this API gave out",
        errors=[FieldProblem(field="query.cursor", reason="not a cursor from `next`")],
    )


@dataclass(frozen=True)
class PageRequest:
    """What the client asked for: ``limit`` rows after ``after`` (None: from the start)."""

    limit: int
    after: list[Any] | None

    @property
    def fetch(self) -> int:
        """How many rows to fetch: one more than ``limit``, to know whether there is more."""
        return self.limit + 1

    def after_as(self, *types: Callable[[Any], Any]) -> list[Any] | None:
        """The key converted column by column (``page.after_as(date.fromisoformat, str)``);
        422 when it does not fit (a cursor from another collection)."""
        if self.after is None:
            return None
        if len(self.after) != len(types):
            raise _bad_cursor()
        try:
            return [t(v) for t, v in zip(types, self.after, strict=True)]
        except (TypeError, ValueError) as exc:
            raise _bad_cursor() from exc

    def build(
        self,
        items: Sequence[T],
        *,
        key: Callable[[T], Sequence[Any]],
        request: Request | None = None,
        response: Response | None = None,
    ) -> Page[T]:
        """The page of ``items`` (fetched with ``fetch``), its ``next`` cursor and, given the
        request and response, the ``Link`` header."""
        more = len(items) > self.limit
        kept = list(items[: self.limit])
        cursor = encode_cursor(key(kept[-1])) if more and kept else None
        if cursor is not None and request is not None and response is not None:
            url = request.url.include_query_params(cursor=cursor, limit=self.limit)
            response.headers["Link"] = f'<{url}>; rel="next"'
        return Page(items=kept, next=cursor)


async def page_request(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="How many items a page holds at most.")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=1024, description="`next` of the previous page; absent for the first."),
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, after=decode_cursor(cursor) if cursor else None)


PageQuery = Annotated[PageRequest, Depends(page_request)]
