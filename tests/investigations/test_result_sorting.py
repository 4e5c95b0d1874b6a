"""Sorting result tables: in the database over every stored row, numbers as numbers, nulls last,
on the run page, the result page and its htmx fragment."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from investigations.models import QueryRun, ResultRow, RunResult
from investigations.resulttables import RESULT_PAGE_SIZE, parse_sort, result_table, sorted_rows
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

COLUMNS = ["srcaddr", "dstport", "flows", "bytes"]


def _result(
    investigation: Any,
    rows: list[dict[str, Any]],
    analysis: str = "top-external",
    columns: list[str] | None = None,
) -> RunResult:
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=[analysis],
        status="succeeded",
        finished_at=timezone.now(),
    )
    result = RunResult.objects.create(
        run=run,
        analysis=analysis,
        title="Top external",
        columns=columns or COLUMNS,
        row_count=len(rows),
        total_groups=len(rows),
    )
    ResultRow.objects.bulk_create(
        ResultRow(result=result, position=i, data=row) for i, row in enumerate(rows)
    )
    return result


def _order(result: RunResult, sort: str, key: str) -> list[Any]:
    return [row.get(key) for row in sorted_rows(result, parse_sort(result, sort))]


@pytest.fixture
def mixed(investigation: Any) -> RunResult:
    """Ranked by position; values chosen so text order and number order disagree."""
    return _result(
        investigation,
        [
            {"srcaddr": "203.0.113.9", "dstport": 443, "flows": 9, "bytes": 1000},
            {"srcaddr": "198.51.100.7", "dstport": 22, "flows": 10, "bytes": None},
            {"srcaddr": "10.0.0.5", "dstport": None, "flows": 100, "bytes": 20},
            {"srcaddr": None, "dstport": 8080, "flows": 2, "bytes": 3.5},
            {"srcaddr": "45.33.32.156", "flows": 10, "bytes": 7},  # no dstport at all
        ],
    )


def test_numbers_sort_as_numbers_not_as_text(mixed: RunResult) -> None:
    assert _order(mixed, "flows", "flows") == [2, 9, 10, 10, 100]
    assert _order(mixed, "-flows", "flows") == [100, 10, 10, 9, 2]


def test_nulls_and_missing_values_come_last_in_both_directions(mixed: RunResult) -> None:
    assert _order(mixed, "dstport", "dstport") == [22, 443, 8080, None, None]
    assert _order(mixed, "-dstport", "dstport") == [8080, 443, 22, None, None]
    assert _order(mixed, "bytes", "bytes") == [3.5, 7, 20, 1000, None]
    assert _order(mixed, "-srcaddr", "srcaddr")[-1] is None


def test_text_sorts_as_text(mixed: RunResult) -> None:
    assert _order(mixed, "srcaddr", "srcaddr") == [
        "10.0.0.5",
        "198.51.100.7",
        "203.0.113.9",
        "45.33.32.156",
        None,
    ]


def test_ties_keep_the_rank_order(mixed: RunResult) -> None:
    # flows 10 twice: position 1 (198.51.100.7) before position 4 (45.33.32.156), both ways.
    ascending = _order(mixed, "flows", "srcaddr")
    descending = _order(mixed, "-flows", "srcaddr")
    assert ascending.index("198.51.100.7") < ascending.index("45.33.32.156")
    assert descending.index("198.51.100.7") < descending.index("45.33.32.156")


def test_a_column_mixing_numbers_and_text_puts_numbers_first(investigation: Any) -> None:
    result = _result(
        investigation,
        [{"port": "n/a"}, {"port": 10}, {"port": 9}, {"port": "icmp"}],
        columns=["port"],
    )
    assert _order(result, "port", "port") == [9, 10, "icmp", "n/a"]


def test_an_unknown_sort_column_keeps_the_rank_order(mixed: RunResult) -> None:
    assert parse_sort(mixed, "evil; DROP TABLE") is None
    assert parse_sort(mixed, "--flows") is None
    assert parse_sort(mixed, "") is None
    assert _order(mixed, "nope", "flows") == [9, 10, 100, 2, 10]


def test_sorting_covers_every_row_not_only_the_page(investigation: Any) -> None:
    count = RESULT_PAGE_SIZE * 2 + 7
    # Ranked so the largest flows come last: a page-local sort would never show them first.
    result = _result(
        investigation,
        [
            {"srcaddr": f"10.0.{i // 256}.{i % 256}", "dstport": 22, "flows": i, "bytes": i}
            for i in range(count)
        ],
    )
    run = result.run
    first = result_table(run, result, sort="-flows", page=1)
    assert [row["flows"] for row in first.page.object_list][:3] == [count - 1, count - 2, count - 3]
    last = result_table(run, result, sort="-flows", page=3)
    assert [row["flows"] for row in last.page.object_list] == list(range(6, -1, -1))
    assert last.page.paginator.count == count


def test_the_run_page_sorts_each_table_from_its_own_query(mixed: RunResult, teammate: Any) -> None:
    url = reverse("investigations:run_detail", args=[mixed.run_id])
    body = client_for(teammate).get(url, {"top-external.sort": "-flows"}).content.decode()
    table = body[body.index('id="table-top-external"') :]
    assert table.index("10.0.0.5") < table.index("203.0.113.9")  # 100 flows before 9
    assert re.search(
        r'<th scope="col" class="num" aria-sort="descending"><a class="sort"[^>]*'
        r'data-column="flows"',
        table,
    )
    assert 'data-sort="-flows"' in table
    # The flows header now offers the other direction; the others their first one. The run
    # page shows each table's first rows, so its links keep that page size.
    base = (
        reverse("investigations:run_result", args=[mixed.run_id, "top-external"]) + "?size=10&amp;"
    )
    assert f'href="{base}sort=flows"' in table
    assert f'href="{base}sort=srcaddr"' in table and f'href="{base}sort=-bytes"' in table


def test_the_htmx_fragment_and_the_pager_keep_the_sort(investigation: Any, analyst: Any) -> None:
    result = _result(
        investigation,
        [
            {"srcaddr": f"10.0.0.{i}", "dstport": 22, "flows": i, "bytes": i}
            for i in range(RESULT_PAGE_SIZE + 5)
        ],
    )
    url = reverse("investigations:run_result", args=[result.run_id, result.analysis])
    client = client_for(analyst)
    fragment = client.get(url, {"sort": "flows"}, headers={"HX-Request": "true"})
    body = fragment.content.decode()
    assert "<html" not in body and body.lstrip().startswith('<div id="table-top-external"')
    assert 'aria-sort="ascending"' in body
    assert f'href="{url}?sort=flows&amp;page=2"' in body
    assert 'hx-target="closest .result-table"' in body
    assert "Back to rank order" in body
    second = client.get(url, {"sort": "flows", "page": 2}).content.decode()
    assert "<html" in second and "Page 2 of 2" in second
    numbers = re.findall(r'<td class="num">(\d+)</td><td class="num">\d+</td></tr>', second)
    assert numbers == [str(i) for i in range(RESULT_PAGE_SIZE, RESULT_PAGE_SIZE + 5)]


def test_log_values_are_escaped_in_a_sorted_table(investigation: Any, analyst: Any) -> None:
    result = _result(
        investigation,
        [{"srcaddr": "<script>alert(1)</script>", "dstport": 1, "flows": 1, "bytes": 1}],
    )
    url = reverse("investigations:run_result", args=[result.run_id, result.analysis])
    body = client_for(analyst).get(url, {"sort": "srcaddr"}).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_downloads_ignore_the_sort(mixed: RunResult, analyst: Any) -> None:
    url = reverse("investigations:run_result", args=[mixed.run_id, mixed.analysis])
    response = client_for(analyst).get(url, {"format": "csv", "sort": "-flows"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[2] for row in rows[1:]] == ["9", "10", "100", "2", "10"]


def test_an_outsider_cannot_sort_someone_elses_result(mixed: RunResult, outsider: Any) -> None:
    url = reverse("investigations:run_result", args=[mixed.run_id, mixed.analysis])
    assert client_for(outsider).get(url, {"sort": "flows"}).status_code == 404


def test_the_api_pages_through_sorted_rows(mixed: RunResult, analyst: Any) -> None:
    url = f"/api/v1/runs/{mixed.run_id}/results/{mixed.analysis}/"
    client = client_for(analyst)
    data = client.get(url, {"sort": "-flows", "page_size": 2, "page": 2}).json()
    assert [row["flows"] for row in data["rows"]] == [10, 9]
    data = client.get(url, {"sort": "no-such-column"}).json()
    assert [row["flows"] for row in data["rows"]] == [9, 10, 100, 2, 10]
