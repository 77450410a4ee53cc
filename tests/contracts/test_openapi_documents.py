"""The committed OpenAPI documents (docs/openapi/<service>.json): up to date with the services,
valid OpenAPI 3.1, and keeping the API conventions a generated client relies on (docs/api.md).

No service is started: the documents are built from the apps (``propfee.openapi.document``).
The TypeScript client generated from them is type-checked by ``make client``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis

from propfee.openapi import (
    DEFAULT_DIR,
    SERVICES,
    SETTINGS_PREFIXES,
    bars,
    document,
    files,
    main,
    operations,
    stale_files,
)
from propfee.problems import MEDIA_TYPE

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
CAMEL = re.compile(r"^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$")
#: The probes answer 503 with their readiness body (read by Kubernetes), not a problem.
PROBES = {"/healthz", "/readyz"}
#: Payment gateways' notifications: the gateway's protocol fixes the answer's body
#: (WeChat Pay's ``{"code": "FAIL", ...}``, Alipay's ``fail``), not RFC 9457.
GATEWAY_PROTOCOL = "/webhooks/"


@pytest.fixture(scope="module")
def wanted() -> dict[str, str]:
    """The documents as the services make them now (built once: ~10 s for the four apps)."""
    return files()


@pytest.fixture(scope="module", params=SERVICES)
def committed(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    service: str = request.param
    path = DEFAULT_DIR / f"{service}.json"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make openapi` and commit docs/openapi")
    return service, json.loads(path.read_text(encoding="utf-8"))


def test_committed_documents_are_up_to_date(wanted: dict[str, str]) -> None:
    """Fails when a route changed and docs/openapi was not regenerated: run `make openapi`."""
    stale = stale_files(DEFAULT_DIR, wanted)
    assert stale == [], f"stale in docs/openapi: {stale}; run `make openapi` and commit"
    assert sorted(wanted) == sorted(f"{s}.json" for s in SERVICES)


def test_stale_documents_are_detected(tmp_path: Path, wanted: dict[str, str]) -> None:
    for name, text in wanted.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert stale_files(tmp_path, wanted) == []
    billing = tmp_path / "billing.json"
    billing.write_text(billing.read_text().replace('"createUnit"', '"create_unit_units_post"'))
    (tmp_path / "dunning.json").unlink()
    (tmp_path / "ledger.json").write_text("{}")
    assert stale_files(tmp_path, wanted) == ["billing.json", "dunning.json", "ledger.json"]
    assert stale_files(tmp_path / "absent", wanted) == sorted(wanted)


def test_check_command_exits_1_on_a_stale_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wanted: dict[str, str]
) -> None:
    monkeypatch.setattr("propfee.openapi.files", lambda: wanted)
    assert main(["write", str(tmp_path)]) == 0
    assert main(["check", str(tmp_path)]) == 0
    (tmp_path / "notifier.json").write_text("{}\n")
    assert main(["check", str(tmp_path)]) == 1


def test_documents_are_valid_openapi_3_1(committed: tuple[str, dict[str, Any]]) -> None:
    service, document = committed
    assert document["openapi"].startswith("3.1."), service
    # The OpenAPI 3.1 meta-schema (schemathesis' copy, validated with jsonschema-rs).
    schemathesis.openapi.from_dict(document).validate()
    schemas = document["components"]["schemas"]
    for name, schema in schemas.items():
        dialect = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
        assert jsonschema_rs.meta.is_valid(dialect), f"{service}: components.schemas.{name}"
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs <= set(schemas), f"{service}: dangling $ref {sorted(refs - set(schemas))}"


def test_operation_ids_are_unique_camel_case(committed: tuple[str, dict[str, Any]]) -> None:
    service, document = committed
    seen: dict[str, str] = {}
    for path, method, operation in operations(document):
        where = f"{service}: {method.upper()} {path}"
        operation_id = operation.get("operationId", "")
        assert CAMEL.match(operation_id), f"{where}: operationId {operation_id!r} not camelCase"
        assert operation_id not in seen, (
            f"{where}: operationId {operation_id!r} also on {seen[operation_id]}"
        )
        seen[operation_id] = where


def test_every_error_answer_is_problem_details(committed: tuple[str, dict[str, Any]]) -> None:
    service, document = committed
    wrong = []
    for path, method, operation in operations(document):
        for status, answer in operation["responses"].items():
            if not str(status).startswith(("4", "5")) or (path in PROBES and status == "503"):
                continue
            if path.startswith(GATEWAY_PROTOCOL):
                continue
            if answer.get("content") != {MEDIA_TYPE: {"schema": PROBLEM_REF}}:
                wrong.append(
                    f"{method.upper()} {path} {status}: {sorted(answer.get('content', {}))}"
                )
    assert not wrong, f"{service}: error answers not {MEDIA_TYPE} Problem: {wrong}"
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"}
    assert problem.get("additionalProperties") is True  # extension members (RFC 9457 §3.2)


def test_the_client_generates_every_service() -> None:
    """web/client's generator and factories cover the services propfee.openapi documents."""
    client = Path(__file__).resolve().parents[2] / "web" / "client"
    generator = (client / "scripts" / "generate.mjs").read_text(encoding="utf-8")
    listed = re.search(r"const SERVICES = \[([^\]]*)\]", generator)
    assert listed is not None
    assert re.findall(r'"(\w+)"', listed.group(1)) == list(SERVICES)
    index = (client / "src" / "index.ts").read_text(encoding="utf-8")
    for service in SERVICES:
        assert f'from "./generated/{service}"' in index, service
        assert f"export const {service}Client" in index, service


def test_the_contract_numbers_are_whole() -> None:
    """Issue 20's bars, from the committed documents: every JSON success answer typed, every
    operation listing the errors it can answer, no generated-looking operationId, every
    collection paged."""
    documents = {
        service: json.loads((DEFAULT_DIR / f"{service}.json").read_text(encoding="utf-8"))
        for service in SERVICES
    }
    numbers = bars(documents)
    for name in (
        "typed JSON success responses",
        "operations documenting their errors",
        "collections paged",
    ):
        count, total = numbers[name]
        assert total > 0 and count == total, f"{name}: {count} of {total}"
    assert numbers["generated-looking operationIds"][0] == 0


def test_every_answer_model_has_an_example(committed: tuple[str, dict[str, Any]]) -> None:
    """A client author reads an example of each answer (the model's ``examples``)."""
    service, schema = committed
    components = schema["components"]["schemas"]
    missing = set()
    for _path, _method, operation in operations(schema):
        for status, answer in operation.get("responses", {}).items():
            if not str(status).startswith("2"):
                continue
            for media in answer.get("content", {}).values():
                for name in re.findall(r"#/components/schemas/([^\"]+)", json.dumps(media)):
                    if "examples" not in components[name] and "example" not in components[name]:
                        missing.add(name)
    assert sorted(missing) == [], service


def test_building_a_document_leaves_the_environment_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The apps are built as in development, but a test process that builds a document keeps
    its own settings: a later check of production's refusals must still see production."""
    for prefix in SETTINGS_PREFIXES:
        monkeypatch.delenv(f"{prefix}_ENVIRONMENT", raising=False)
    monkeypatch.setenv("PAYMENTS_ENVIRONMENT", "production")
    document("notifier")
    assert os.environ["PAYMENTS_ENVIRONMENT"] == "production"
    assert [p for p in SETTINGS_PREFIXES if f"{p}_ENVIRONMENT" in os.environ] == ["PAYMENTS"]
