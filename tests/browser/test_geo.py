"""A real browser on a run's "Where traffic comes from" page: the chart draws, a row lists its
addresses, and nothing overflows sideways on a phone."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from investigations.models import QueryRun, ResultRow, RunResult
from tests.factories import PASSWORD, InvestigationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PEERS = [  # address, country, country name, AS organisation, direction, action, flows, bytes
    ("8.8.8.8", "US", "United States", "GOOGLE", "inbound", "ACCEPT", 40, 90_000),
    ("9.9.9.9", "US", "United States", "QUAD9-AS-1", "outbound", "ACCEPT", 12, 5_000_000),
    ("1.1.1.1", "AU", "Australia", "CLOUDFLARENET", "inbound", "REJECT", 300, 18_000),
]


def _store(run: QueryRun, analysis: str, rows: list[dict[str, Any]], **fields: Any) -> None:
    result = RunResult.objects.create(
        run=run,
        analysis=analysis,
        title=analysis,
        columns=list(rows[0]),
        row_count=len(rows),
        total_groups=len(rows),
        **fields,
    )
    ResultRow.objects.bulk_create(
        [ResultRow(result=result, position=i, data=row) for i, row in enumerate(rows)]
    )


def _geo_run(analyst: Any) -> QueryRun:
    investigation: Any = InvestigationFactory(owner=analyst, title="Geo case")
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=analyst,
        status="succeeded",
        analyses=["geo"],
        parameters={"vpc_cidrs": ["10.0.0.0/16"]},
        finished_at=timezone.now(),
    )
    measures = [
        {"direction": d, "action": a, "flows": f, "packets": f, "bytes": b}
        for _, _, _, _, d, a, f, b in PEERS
    ]
    _store(
        run,
        "geo",
        [
            {"country": c, "country_name": n, "distinct_hosts": 1, **m}
            for (_, c, n, *_), m in zip(PEERS, measures, strict=True)
        ],
        summary={
            "flows": 352,
            "bytes": 5_108_000,
            "addresses": 3,
            "countries": 2,
            "autonomous_systems": 3,
            "rank_by": "bytes",
            "geo_source": {"name": "MaxMind GeoLite2 Country and ASN", "date": "2024-06-18"},
        },
    )
    _store(
        run,
        "geo:as",
        [
            {"asn": None, "as_org": o, "distinct_hosts": 1, **m}
            for (_, _, _, o, *_), m in zip(PEERS, measures, strict=True)
        ],
    )
    _store(
        run,
        "geo:addresses",
        [
            {"ip": ip, "country": c, "asn": None, "as_org": o, **m}
            for (ip, c, _, o, *_), m in zip(PEERS, measures, strict=True)
        ],
    )
    return run


def test_the_geo_page_draws_lists_a_countrys_addresses_and_fits_a_phone(
    live_server: Any, page: Any, analyst: Any
) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    run = _geo_run(analyst)
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/investigations/runs/{run.pk}/geo/")
    page.wait_for_selector("#geo-chart canvas")
    series = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('geo-chart'))"
        ".getOption().series.map(s => [s.name, s.data])"
    )
    assert series == [
        ["Inbound", [90_000, 18_000]],
        ["Outbound", [5_000_000, 0]],
        ["Rejected", [0, 18_000]],
    ]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.get_by_role("link", name="AU", exact=True).click()
    page.wait_for_selector("#addresses")
    listed = page.locator("#addresses tbody tr").all_inner_texts()
    assert len(listed) == 1 and "1.1.1.1" in listed[0] and "CLOUDFLARENET" in listed[0]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.get_by_role("link", name="Autonomous system").click()
    page.get_by_role("link", name="QUAD9-AS-1").click()
    page.locator("#addresses").get_by_role("link", name="9.9.9.9").click()
    page.wait_for_url(f"{live_server.url}/entities/9.9.9.9/")
    assert "QUAD9-AS-1" in page.content()
    assert errors == []
