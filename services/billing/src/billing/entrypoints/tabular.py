"""A JSON route's rows as a CSV or XLSX download (``format=csv|xlsx``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fastapi import Response

from billing.adapters.export import CSV_TYPE, XLSX_TYPE, to_csv, to_xlsx

Format = Literal["json", "csv", "xlsx"]

_BINARY = {"schema": {"type": "string", "format": "binary"}}
#: ``responses=`` of a route answering JSON, CSV or XLSX.
DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or the same rows as CSV (UTF-8 with BOM) or XLSX (`format`).",
        "content": {"text/csv": {"schema": {"type": "string"}}, XLSX_TYPE: _BINARY},
    }
}
#: ``responses=`` of a report answering cursor pages of JSON or the whole report as a file.
PAGED_DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "A cursor page of JSON (`limit`, `cursor`, `next` and the `Link` header), or "
            "every row as CSV (UTF-8 with BOM) or XLSX (`format`): a download is the whole "
            "report, `limit` and `cursor` do not apply to it."
        ),
        "content": {"text/csv": {"schema": {"type": "string"}}, XLSX_TYPE: _BINARY},
    }
}


def tabular(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], name: str, fmt: Format
) -> Response:
    if fmt == "csv":
        return Response(
            to_csv(rows, columns),
            media_type=CSV_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(
        to_xlsx(rows, columns, name),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )
