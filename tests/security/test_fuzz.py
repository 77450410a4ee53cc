"""A schemathesis fuzz run of each service's OpenAPI document against a real service process
with a valid token (every role, every community of the test company): no answer is a 5xx, and
every answer is one the document promises (status code, media type and body schema:
schemathesis' conformance checks).

Bounded: ``PROPFEE_FUZZ_EXAMPLES`` examples per operation (default 20), so a run takes well
under a minute; raise it locally to dig deeper.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from tests.security.cases import SERVICE_FACTORIES
from tests.support.auth import auth_env, bearer
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration

#: Every answer: not a 5xx, a documented status, the documented media type and body schema.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = int(os.environ.get("PROPFEE_FUZZ_EXAMPLES", "20"))


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=sorted(SERVICE_FACTORIES))
async def fuzz_target(
    request: pytest.FixtureRequest,
    dev_issuer: DevIssuer,
    kafka: str,
    topic_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
    create_database,  # type: ignore[no-untyped-def]
) -> AsyncIterator[tuple[ServiceProcess, dict[str, str]]]:
    name = request.param
    dsn = await create_database(f"fuzz_{name}")
    process = ServiceProcess(
        name,
        database_url=dsn,
        bootstrap_servers=kafka,
        topic_prefix=topic_prefix,
        log_dir=Path(tmp_path_factory.mktemp("fuzz")),
        env=auth_env(dev_issuer),
    )
    process.start()
    token = dev_issuer.mint("fuzzer", list(Role), "co-1", "*")
    try:
        yield process, bearer(token)
    finally:
        process.stop()


def test_fuzz_finds_no_server_error_and_no_answer_off_the_document(
    fuzz_target: tuple[ServiceProcess, dict[str, str]],
) -> None:
    process, headers = fuzz_target
    schema = schemathesis.openapi.from_url(f"{process.url}/openapi.json")
    failures: list[str] = []
    session_headers = {**headers}
    with httpx.Client(base_url=process.url, timeout=30) as probe:
        assert probe.get("/readyz").status_code == 200
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(base_url=process.url, headers=session_headers, timeout=30)
            try:
                case.validate_response(response, checks=CHECKS)
            except (AssertionError, BaseExceptionGroup) as failure:  # Failure, FailureGroup
                failures.append(
                    f"{case.operation.label}: {response.status_code} {response.text[:300]}\n"
                    f"    {str(failure)[:600]}\n    {case.as_curl_command()}"
                )

        fuzz()
    if failures and os.environ.get("PROPFEE_FUZZ_REPORT"):
        Path(os.environ["PROPFEE_FUZZ_REPORT"]).write_text("\n".join(failures))
    assert not failures, "\n".join(failures[:20]) + f"\n\n{process.log_tail(40)}"
