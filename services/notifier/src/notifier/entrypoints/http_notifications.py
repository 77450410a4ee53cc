"""Messages and their evidence (the exact text, the proof, a letter's PDF) and the
dispatcher's pass on demand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from notifier.entrypoints import security
from notifier.entrypoints.models import DispatchReport, Notification
from notifier.entrypoints.security import Dispatcher, DocumentReader, Reader
from notifier.errors import DispatcherStarting
from notifier.runtime import NotifierRuntime
from notifier.service_layer import messages
from propfee import business_time
from propfee.http import Pool
from propfee.paging import Page, PageQuery
from propfee.problems import FieldProblem, InvalidInput, problem_responses

router = APIRouter(tags=["notifications"])
ID = Annotated[str, Query(max_length=200)]
PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}
}


@router.get("/notifications", responses=problem_responses(404))
async def list_notifications(
    request: Request,
    response: Response,
    pool: Pool,
    principal: Reader,
    page: PageQuery,
    unit_id: ID | None = None,
    subject_id: ID | None = None,
    party_id: ID | None = None,
    status: ID | None = None,
    community_id: ID | None = None,
) -> Page[Notification]:
    """Messages with the exact text sent and the proof, of the caller's communities, oldest
    first (bodies are evidence with personal data: masked for roles that do not see
    contacts). 404 when a filter's id names nothing the caller may see."""
    rows = await messages.list_messages(
        pool,
        principal,
        messages.MessageFilter(unit_id, subject_id, party_id, status, community_id),
        after=page.after_as(datetime.fromisoformat, str),
        limit=page.fetch,
    )
    items = [Notification(**security.mask_message(principal, r)) for r in rows]
    return page.build(
        items,
        key=lambda n: [n.created_at.isoformat(), n.notification_id],
        request=request,
        response=response,
    )


@router.get("/notifications/{notification_id}/document", response_class=Response, responses=PDF)
async def download_notification_document(
    pool: Pool, notification_id: str, principal: DocumentReader
) -> Response:
    """The print-ready PDF of a letter or door notice (roles that see contacts only); 404
    when the message has none."""
    pdf = await messages.document(pool, principal, notification_id)
    return Response(pdf, media_type="application/pdf")


@router.post("/dispatch", responses=problem_responses(503))
async def dispatch_notifications(
    request: Request, principal: Dispatcher, as_of: datetime | None = None
) -> DispatchReport:
    """Send what is due now: one pass, the answer counts only. Staff dispatch their own
    communities' messages, as of now (a chosen ``as_of`` more than a few minutes from now is
    403). The service role (the simulation clock, tests) may choose the instant and passes
    over the deployment's queue, as the background loop does on the wall clock. 503 while
    the dispatcher is starting."""
    runtime: NotifierRuntime = request.app.state.runtime
    if runtime.dispatcher is None:
        raise DispatcherStarting("dispatcher is starting")
    if as_of is not None and as_of.tzinfo is None:
        raise InvalidInput(
            "as_of needs a time zone offset (RFC 3339)",
            errors=[FieldProblem(field="query.as_of", reason="no time zone offset")],
        )
    instant = business_time.as_of_now(principal, as_of, datetime.now(UTC), field="as_of")
    scope = principal.sql_scope()
    report = await runtime.dispatcher.dispatch(
        instant,
        workers=runtime.settings.dispatch_workers,
        scope=None if scope == (None, None) else scope,
    )
    return DispatchReport(as_of=instant, **report.counts)
