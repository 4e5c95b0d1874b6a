"""The "Where traffic comes from" page of a run: its stored `geo` result by country or by AS,
as a chart and a sortable table, the addresses behind a row, and the countries new to the
investigation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from investigations.access import get_run_for_user
from investigations.choices import RunStatus
from investigations.models import QueryRun, ResultRow, RunResult

ANALYSIS = "geo"
AS_RESULT = "geo:as"
ADDRESSES_RESULT = "geo:addresses"
UNPLACED = "-"  # the filter value for addresses the data has no country or AS for
MAX_CHART_BARS = 15
PIVOT_MEASURES = (
    "flows",
    "bytes",
    "inbound_flows",
    "inbound_bytes",
    "outbound_flows",
    "outbound_bytes",
    "rejected_flows",
    "rejected_bytes",
)
COLUMNS = {
    "country": ("country", "country_name", "addresses", *PIVOT_MEASURES),
    "as": ("as_org", "asn", "addresses", *PIVOT_MEASURES),
}
TEXT_COLUMNS = {"country", "country_name", "as_org"}


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _rows(result: RunResult | None) -> list[dict[str, Any]]:
    if result is None:
        return []
    return list(result.rows.order_by("position").values_list("data", flat=True))


def _key(row: dict[str, Any], by: str) -> str:
    value = row.get("country") if by == "country" else row.get("as_org")
    return str(value) if value else UNPLACED


def pivot(
    rows: Iterable[dict[str, Any]], addresses: Iterable[dict[str, Any]], by: str
) -> list[dict[str, Any]]:
    """One row per country (or AS): totals, inbound, outbound and rejected flows and bytes,
    and how many stored addresses it has."""
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = _key(row, by)
        group = groups.setdefault(
            key,
            {
                "key": key,
                "country": row.get("country"),
                "country_name": row.get("country_name"),
                "as_org": row.get("as_org"),
                "asn": row.get("asn"),
                "addresses": 0,
                **dict.fromkeys(PIVOT_MEASURES, 0),
            },
        )
        flows, size = _count(row.get("flows")), _count(row.get("bytes"))
        direction = "inbound" if row.get("direction") == "inbound" else "outbound"
        group["flows"] += flows
        group["bytes"] += size
        group[f"{direction}_flows"] += flows
        group[f"{direction}_bytes"] += size
        if row.get("action") == "REJECT":
            group["rejected_flows"] += flows
            group["rejected_bytes"] += size
    seen: dict[str, set[str]] = {}
    for row in addresses:
        seen.setdefault(_key(row, by), set()).add(str(row.get("ip")))
    for key, group in groups.items():
        group["addresses"] = len(seen.get(key, ()))
    return list(groups.values())


def sort_rows(rows: list[dict[str, Any]], column: str, descending: bool) -> list[dict[str, Any]]:
    if column in TEXT_COLUMNS:
        return sorted(rows, key=lambda r: str(r.get(column) or ""), reverse=descending)
    return sorted(rows, key=lambda r: (_count(r.get(column)), r["key"]), reverse=descending)


def chart_payload(rows: list[dict[str, Any]], by: str) -> dict[str, Any]:
    """The busiest rows by bytes and by flows, inbound, outbound and the rejected part."""
    charts: dict[str, Any] = {}
    for measure in ("bytes", "flows"):
        top = sorted(rows, key=lambda r: (-r[measure], r["key"]))[:MAX_CHART_BARS]
        charts[measure] = {
            "labels": [r["key"] for r in top],
            "names": [
                (r.get("country_name") if by == "country" else r.get("as_org")) or "not placed"
                for r in top
            ],
            "inbound": [r[f"inbound_{measure}"] for r in top],
            "outbound": [r[f"outbound_{measure}"] for r in top],
            "rejected": [r[f"rejected_{measure}"] for r in top],
        }
    return {"by": by, "shown": min(len(rows), MAX_CHART_BARS), "total": len(rows), **charts}


def new_places(
    run: QueryRun, countries: Iterable[str], systems: Iterable[str]
) -> tuple[int, list[str], list[str]]:
    """How many earlier succeeded runs of the investigation have this view, and which of
    `countries` and AS organisations `systems` none of them saw."""
    earlier = RunResult.objects.filter(
        run__investigation_id=run.investigation_id,
        run__status=RunStatus.SUCCEEDED,
        run__created_at__lt=run.created_at,
    )
    runs = earlier.filter(analysis=ANALYSIS).values("run").distinct().count()
    if not runs:
        return 0, [], []

    def seen(analysis: str, key: str) -> set[str]:
        rows = ResultRow.objects.filter(result__in=earlier.filter(analysis=analysis))
        return {str(v) for v in rows.values_list(f"data__{key}", flat=True).distinct() if v}

    new_countries = sorted(set(countries) - seen(ANALYSIS, "country"))
    new_systems = sorted(set(systems) - seen(ADDRESSES_RESULT, "as_org"))
    return runs, new_countries, new_systems


@require_GET
def run_geo(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_run_for_user(request.user, pk)
    found = {
        r.analysis: r
        for r in RunResult.objects.filter(
            run=run, analysis__in=(ANALYSIS, AS_RESULT, ADDRESSES_RESULT)
        )
    }
    result = found.get(ANALYSIS)
    if result is None:  # say so, and how to get it, rather than a bare 404
        return render(request, "investigations/run_geo.html", {"run": run, "missing": True})
    by = "as" if request.GET.get("by") == "as" else "country"
    addresses = _rows(found.get(ADDRESSES_RESULT))
    detail_rows = _rows(result) if by == "country" else _rows(found.get(AS_RESULT))
    rows = pivot(detail_rows, addresses, by)
    column = request.GET.get("sort", "")
    if column not in COLUMNS[by]:
        column = "bytes" if (result.summary or {}).get("rank_by") == "bytes" else "flows"
    descending = request.GET.get("dir", "desc" if column not in TEXT_COLUMNS else "asc") != "asc"
    rows = sort_rows(rows, column, descending)
    chosen = request.GET.get("country" if by == "country" else "as", "").strip()
    picked = [a for a in addresses if chosen and _key(a, by) == chosen]
    countries = [r["country"] for r in pivot(_rows(result), (), "country") if r["country"]]
    systems = [str(a["as_org"]) for a in addresses if a.get("as_org")]
    earlier_runs, new, new_systems = new_places(run, countries, systems)
    headers = []
    for name in COLUMNS[by]:
        flip = "asc" if name == column and descending else "desc"
        headers.append(
            {
                "column": name,
                "label": name.replace("_", " "),
                "numeric": name not in TEXT_COLUMNS and name != "asn",
                "url": "?" + urlencode({"by": by, "sort": name, "dir": flip}),
                "aria_sort": ("descending" if descending else "ascending")
                if name == column
                else None,
            }
        )
    context = {
        "run": run,
        "result": result,
        "summary": result.summary or {},
        "by": by,
        "rows": rows,
        "columns": COLUMNS[by],
        "headers": headers,
        "chosen": chosen,
        "picked": picked,
        "unplaced": UNPLACED,
        "as_result": found.get(AS_RESULT),
        "addresses_result": found.get(ADDRESSES_RESULT),
        "chart": chart_payload(rows, by),
        "earlier_runs": earlier_runs,
        "new_countries": new,
        "new_systems": new_systems,
    }
    return render(request, "investigations/run_geo.html", context)
