"""The run page read at a glance: summary first, contents, first rows of each analysis, a
server-side address filter over every stored row, and runs that analysed no record."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from investigations.models import Finding, QueryRun, ResultRow, RunResult
from portal.sequences import next_change_number
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _run(investigation: Any, **fields: Any) -> QueryRun:
    fields.setdefault("status", "succeeded")
    fields.setdefault(
        "records",
        {"total": 1000, "ok": 990, "malformed": 10, "nodata": 0, "skipdata": 0, "filtered_out": 0},
    )
    return QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["top-talkers"],
        **fields,
    )


def _talkers(run: QueryRun, count: int, *, special: dict[int, str] | None = None) -> RunResult:
    result = RunResult.objects.create(
        run=run,
        analysis="top-talkers",
        title="Top talkers",
        columns=["ip", "dstport", "bytes"],
        row_count=count,
        total_groups=count,
        annotations={"203.0.113.77": {"kind": "external", "org": "Example Transit"}},
    )
    ResultRow.objects.bulk_create(
        [
            ResultRow(
                result=result,
                position=i,
                data={
                    "ip": (special or {}).get(i, f"10.0.{i // 250}.{i % 250}"),
                    "dstport": 3389,
                    "bytes": 10_000 - i,
                },
            )
            for i in range(count)
        ]
    )
    return result


def test_the_address_filter_searches_every_stored_row_not_the_page(
    investigation: Any, analyst: Any
) -> None:
    run = _run(investigation)
    _talkers(run, 160, special={130: "203.0.113.77"})  # row 131: page 3 at 50 a page
    url = reverse("investigations:run_detail", args=[run.pk])
    client = client_for(analyst)
    plain = client.get(url).content.decode()
    assert "203.0.113.77" not in plain.split('id="results"')[1]  # not in the first rows
    html = client.get(url, {"ip": "203.0.113.77"}).content.decode()
    text = " ".join(html.split())
    assert "<strong>1</strong> stored row of every analysis mention it" in text
    table = html[html.index('id="table-top-talkers"') :]
    assert '<a class="entity" href="/entities/203.0.113.77/">203.0.113.77</a>' in table
    assert "10.0.0.1<" not in table
    fragment = client.get(
        reverse("investigations:run_result", args=[run.pk, "top-talkers"]),
        {"ip": "203.0.113.77"},
        headers={"HX-Request": "true"},
    )
    assert "203.0.113.77" in fragment.content.decode()


def test_a_bad_address_gets_a_message(investigation: Any, analyst: Any) -> None:
    run = _run(investigation)
    _talkers(run, 3)
    response = client_for(analyst).get(
        reverse("investigations:run_detail", args=[run.pk]), {"ip": "10.0.0.999"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "“10.0.0.999” is not an IP address" in html and 'aria-invalid="true"' in html


def test_the_summary_comes_first_with_findings_peers_and_next_steps(
    investigation: Any, analyst: Any
) -> None:
    run = _run(investigation)
    _talkers(run, 20, special={0: "203.0.113.77"})
    for severity, title in ((8, "Brute force"), (5, "Scan"), (2, "Odd port"), (9.5, "Exfil")):
        Finding.objects.create(
            investigation=investigation,
            run=run,
            type="Recon:EC2/Portscan",
            severity=severity,
            title=title,
            change_number=next_change_number(),
            evidence={"peer": "203.0.113.77", "targets": ["10.0.1.10"]},
        )
    html = client_for(analyst).get(reverse("investigations:run_detail", args=[run.pk])).content
    text = " ".join(html.decode().split())
    summary = text[text.index('id="summary"') : text.index('id="details"')]
    assert "990</strong> analysed of 1,000 lines read" in summary
    assert "1 critical" in summary and "1 high" in summary and "1 medium" in summary
    assert summary.index("Exfil") < summary.index("Brute force") < summary.index("Scan")
    assert "Odd port" not in summary  # the top three only
    assert "203.0.113.77" in summary and "Example Transit" in summary and "9.8 KB" in summary
    assert "Pivot on 203.0.113.77" in summary and "Re-run with 10.0.1.10 as the target" in summary
    assert f"runs/new/?from={run.pk}&amp;target=10.0.1.10" in summary
    assert 'href="#result-top-talkers"' in text  # the contents list
    # Each analysis shows its first rows; ports have no thousands separator.
    table = text[text.index('id="table-top-talkers"') :]
    assert table.count("<tr>") == 11 and "3389" in table and "3,389" not in table


def test_re_run_with_a_target_fills_it_in_and_all_is_the_default(
    investigation: Any, analyst: Any
) -> None:
    url = reverse("investigations:run_create", args=[investigation.pk])
    html = client_for(analyst).get(url, {"target": "10.0.1.10"}).content.decode()
    assert 'value="10.0.1.10"' in html
    fresh = client_for(analyst).get(url).content.decode()
    checked = re.findall(
        r'<input type="checkbox" name="analyses" value="([^"]+)"[^>]*checked', fresh
    )
    assert checked == ["all"]


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        (
            {"total": 40, "ok": 0, "malformed": 40, "nodata": 0, "skipdata": 0, "filtered_out": 0},
            "Every line was malformed: 40 of 40 lines",
        ),
        (
            {
                "total": 500,
                "ok": 0,
                "malformed": 0,
                "nodata": 0,
                "skipdata": 0,
                "filtered_out": 500,
            },
            "The time window missed all the data: all 500 flow records lie outside it.",
        ),
    ],
)
def test_a_run_that_analysed_no_record_says_so_and_draws_no_chart(
    investigation: Any, analyst: Any, records: dict[str, int], reason: str
) -> None:
    run = _run(investigation, records=records)
    RunResult.objects.create(
        run=run, analysis="top-talkers", title="Top talkers", columns=["ip", "bytes"]
    )
    html = " ".join(
        client_for(analyst)
        .get(reverse("investigations:run_detail", args=[run.pk]))
        .content.decode()
        .split()
    )
    assert 'data-outcome="no-data">No data analysed</span>' in html and reason in html
    assert 'id="charts"' not in html and "run-succeeded" not in html
    listing = (
        client_for(analyst)
        .get(reverse("investigations:detail", args=[investigation.pk]))
        .content.decode()
    )
    assert "No data analysed" in listing
    # The API (and so a SIEM) reads the same outcome, not a plain success.
    api = client_for(analyst).get(f"/api/v1/runs/{run.pk}/").json()
    assert (api["status"], api["outcome"]) == ("succeeded", "no_data")
    assert reason in api["no_data_reason"]


def test_a_refused_run_form_lists_its_errors_at_the_top(investigation: Any, analyst: Any) -> None:
    url = reverse("investigations:run_create", args=[investigation.pk])
    response = client_for(analyst).post(
        url, {"analyses": ["all"], "top_n": 100, "rank_by": "flows", "port": "99999"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    top = html[
        html.index('id="error-summary"') : html.index("</ul>", html.index('id="error-summary"'))
    ]
    assert 'tabindex="-1"' in html and 'href="#id_port"' in top
    assert html.index('id="error-summary"') < html.index('data-field="analyses"')


def test_findings_spared_as_aws_services_are_named_on_the_run_page(
    investigation: Any, analyst: Any
) -> None:
    run = _run(investigation)
    RunResult.objects.create(
        run=run,
        analysis="detections",
        title="Detections",
        columns=["type", "title"],
        summary={
            "findings": 0,
            "aws_services_left_out": [{"title": "6,000,000,000 bytes sent to 52.94.0.7", "service": "S3"}],
        },
    )  # fmt: skip
    html = " ".join(
        client_for(analyst)
        .get(reverse("investigations:run_detail", args=[run.pk]))
        .content.decode()
        .split()
    )
    assert "1 finding left out because the peer is an AWS service" in html
    assert "6,000,000,000 bytes sent to 52.94.0.7 (S3)" in html
