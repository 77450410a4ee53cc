"""The four services' OpenAPI documents: how they are completed, committed and measured.

    python -m propfee.openapi write [DIR]   regenerate docs/openapi/<service>.json
    python -m propfee.openapi check [DIR]   exit 1 if the committed documents are stale (or a
                                            document is no service's)
    python -m propfee.openapi bars          the contract numbers (typed answers, documented
                                            errors, readable operationIds, paged collections)

``create_service_app`` builds every document through :func:`complete`:

- operationIds are the route function's name in lowerCamelCase (``create_unit`` ->
  ``createUnit``): :func:`operation_id`;
- every error answer is problem details (``propfee.problems``): 401 and 403 on every operation
  that needs a token, 404 where the path or a scoped id in the request names something, 422
  where there are parameters or a body (in place of FastAPI's own validation schema); routes
  add the rest themselves (``responses=problem_responses(409)``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute

from propfee.auth.scope import id_like, operation_id_fields
from propfee.problems import DESCRIPTIONS, MEDIA_TYPE, FieldProblem, Problem, UnmetCondition

SERVICES = ("billing", "dunning", "notifier", "payments")
DEFAULT_DIR = Path(__file__).resolve().parents[3] / "docs" / "openapi"
METHODS = ("get", "put", "post", "delete", "patch")
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def camel(name: str) -> str:
    head, *rest = [p for p in name.split("_") if p]
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def operation_id(route: APIRoute) -> str:
    """A route's operationId: its function's name in lowerCamelCase."""
    return camel(route.name)


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _problem(status: int) -> dict[str, Any]:
    return {
        "description": DESCRIPTIONS.get(status, "Error"),
        "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}},
    }


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """Document the problem-details answers every operation can give (see the module)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components["Problem"].pop("$defs", None)
    components["FieldProblem"] = FieldProblem.model_json_schema()
    components["UnmetCondition"] = UnmetCondition.model_json_schema()
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, _method, operation in operations(schema):
        responses: dict[str, Any] = operation.setdefault("responses", {})
        for status, answer in responses.items():
            if not str(status).startswith(("4", "5")):
                continue
            schema_ref = json.dumps(answer.get("content", {}))
            if not answer.get("content") or "HTTPValidationError" in schema_ref:
                # FastAPI's own 422, or a status a route listed without a body: problem details
                answer["content"] = {MEDIA_TYPE: {"schema": PROBLEM_REF}}
            if answer.get("description") == "Validation Error":
                answer["description"] = DESCRIPTIONS[422]
        if operation.get("security"):
            responses.setdefault("401", _problem(401))
            responses.setdefault("403", _problem(403))
        names_something = "{" in path or (
            operation.get("security") and any(map(id_like, operation_id_fields(schema, operation)))
        )
        if names_something:  # a path id, or a scoped id anywhere in the request: 404
            responses.setdefault("404", _problem(404))
        if operation.get("parameters") or operation.get("requestBody"):
            responses.setdefault("422", _problem(422))
        if operation.get("requestBody"):
            responses.setdefault("413", _problem(413))
    return schema


# --- committed documents -------------------------------------------------------------------


SETTINGS_PREFIXES = ("PROPFEE", "BILLING", "DUNNING", "NOTIFIER", "PAYMENTS")


@contextmanager
def _development_environment() -> Iterator[None]:
    """The apps are built as on a developer's machine, and the environment is given back
    as it was (a test process that builds a document keeps its own settings)."""
    names = [f"{prefix}_ENVIRONMENT" for prefix in SETTINGS_PREFIXES]
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.setdefault(name, "development")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def document(service: str) -> dict[str, Any]:
    """``service``'s OpenAPI document, built from its app without starting it."""
    with _development_environment():
        app = import_module(f"{service}.app").create_app()
        result: dict[str, Any] = app.openapi()
    return result


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def files() -> dict[str, str]:
    return {f"{service}.json": render(document(service)) for service in SERVICES}


def stale_files(directory: Path, wanted: dict[str, str] | None = None) -> list[str]:
    """The documents in ``directory`` that differ from ``wanted`` (default: the services' own,
    built now), are missing, or are not a service's any more; empty when all are up to date."""
    wanted = files() if wanted is None else wanted
    present = {p.name for p in directory.glob("*.json")} if directory.is_dir() else set()
    stale = [
        name
        for name, text in wanted.items()
        if name not in present or (directory / name).read_text(encoding="utf-8") != text
    ]
    return sorted([*stale, *(present - set(wanted))])


# --- the numbers ----------------------------------------------------------------------------

GENERATED_ID = re.compile(r"_(get|put|post|delete|patch)$")


def _json_success(operation: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        answer["content"]["application/json"].get("schema", {})
        for status, answer in operation.get("responses", {}).items()
        if str(status).startswith("2") and "application/json" in answer.get("content", {})
    ]


def _typed(schema: dict[str, Any]) -> bool:
    """A JSON answer is typed when its schema names a model (or a list/page of one), not an
    empty or free-form object."""
    if not schema:
        return False
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _typed(schema.get("items", {}))
    if "anyOf" in schema or "oneOf" in schema:
        return all(_typed(s) for s in schema.get("anyOf", schema.get("oneOf", [])))
    return False


def is_collection(path: str, method: str, operation: dict[str, Any]) -> bool:
    """A GET answering a JSON array, or a page of one (``items``)."""
    if method != "get":
        return False
    for schema in _json_success(operation):
        if schema.get("type") == "array":
            return True
        ref = schema.get("$ref", "")
        if ref.split("/")[-1].startswith("Page"):
            return True
    return False


def bars(documents: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(count, total) per measure, over all documents."""
    typed = json_answers = ops = errors_documented = generated = collections = paged = 0
    for schema in documents.values():
        for path, method, operation in operations(schema):
            ops += 1
            for answer in _json_success(operation):
                json_answers += 1
                typed += _typed(answer)
            codes = set(map(str, operation.get("responses", {})))
            needed = (
                {"422"} if operation.get("parameters") or operation.get("requestBody") else set()
            )
            if operation.get("security"):
                needed |= {"401", "403"}
            # the errors it can answer: 401/403 with a token, 422 with any input (a probe
            # without either has none to document)
            errors_documented += needed <= codes
            generated += bool(GENERATED_ID.search(operation.get("operationId", "")))
            if is_collection(path, method, operation):
                collections += 1
                names = {p.get("name") for p in operation.get("parameters", [])}
                paged += {"cursor", "limit"} <= names
    return {
        "typed JSON success responses": (typed, json_answers),
        "operations documenting their errors": (errors_documented, ops),
        "generated-looking operationIds": (generated, ops),
        "collections paged": (paged, collections),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m propfee.openapi")
    parser.add_argument("command", choices=["write", "check", "bars"])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    if args.command == "bars":
        numbers = bars({s: document(s) for s in SERVICES})
        for name, (count, total) in numbers.items():
            share = f"{100 * count / total:.0f}%" if total else "-"
            print(f"{name}: {count} of {total} ({share})")
        return 0
    wanted = files()
    if args.command == "write":
        args.dir.mkdir(parents=True, exist_ok=True)
        for name, text in wanted.items():
            (args.dir / name).write_text(text, encoding="utf-8")
        print(f"wrote {len(wanted)} OpenAPI documents to {args.dir}")
        return 0
    stale = stale_files(args.dir, wanted)
    if stale:
        print(
            f"stale OpenAPI documents in {args.dir}: {', '.join(stale)}; "
            "run `make openapi` and commit",
            file=sys.stderr,
        )
        return 1
    print(f"{len(wanted)} OpenAPI documents up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
