"""Streamed downloads of a result's rows: CSV (formula-safe), JSON, NDJSON and OCSF NDJSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import Http404, StreamingHttpResponse

from investigations.models import RunResult
from investigations.ocsf import network_activity
from portal.csvexport import csv_response

EXPORT_FORMATS = ("csv", "json", "ndjson", "ocsf")


def export_rows(
    result: RunResult, rows: Iterable[dict[str, Any]], fmt: str
) -> StreamingHttpResponse:
    name = f"run-{result.run_id}-{result.analysis}"
    if fmt == "csv":
        return csv_response(
            f"{name}.csv", result.columns, ([row.get(c) for c in result.columns] for row in rows)
        )
    if fmt == "ndjson":
        return _stream(
            f"{name}.ndjson", "application/x-ndjson", (json.dumps(row) + "\n" for row in rows)
        )
    if fmt == "ocsf":
        run = result.run
        return _stream(
            f"{name}.ocsf.ndjson",
            "application/x-ndjson",
            (
                json.dumps(network_activity(row, run=run, analysis=result.analysis)) + "\n"
                for row in rows
            ),
        )
    if fmt == "json":
        return _stream(f"{name}.json", "application/json", _json_array(result, rows))
    raise Http404(f"Unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}.")


def _json_array(result: RunResult, rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    head = {
        "run": result.run_id,
        "analysis": result.analysis,
        "columns": result.columns,
        "total_groups": result.total_groups,
        "truncated": result.truncated,
    }
    yield json.dumps(head)[:-1] + ', "rows": ['
    for index, row in enumerate(rows):
        yield ("," if index else "") + json.dumps(row)
    yield "]}"


def _stream(filename: str, content_type: str, chunks: Iterator[str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
