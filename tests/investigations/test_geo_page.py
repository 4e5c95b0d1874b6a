"""The "Where traffic comes from" page: country and AS of external peers from the shipped
offline data, by a real run, with the table, the addresses behind a row, new countries, gates."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from investigations.models import QueryRun, ResultRow, RunResult
from tests.conftest import client_for, wait_for_run
from tests.flowlogs import SAMPLE_TEXT

PEERS = {"8.8.4.4": 22, "1.1.1.1": 22, "9.9.9.9": 443}
EXTRA = "\n".join(
    f"2 123456789012 eni-0a1 {ip} 10.0.1.10 40000 {port} 6 5 300 1763900010 1763900070 REJECT OK"
    for ip, port in PEERS.items()
)


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_run_places_its_external_peers_by_country_and_as(
    celery_worker_process: Any, fake_rdap: Any, investigation: Any, analyst: Any
) -> None:
    client = client_for(analyst)
    client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {
            "log_files": SimpleUploadedFile("vpc.log", (SAMPLE_TEXT + EXTRA + "\n").encode()),
            "analyses": ["geo", "external-inbound"],
            "target_ips": "10.0.1.10",
            "vpc_cidrs": "10.0.0.0/16",
            "top_n": 10,
            "rank_by": "flows",
        },
    )
    run = wait_for_run(QueryRun.objects.order_by("-pk").first())
    assert run.status == "succeeded", run.error

    # Next to the WHOIS organisation: the country and AS from the offline data.
    notes = run.results.get(analysis="external-inbound").annotations
    assert (notes["8.8.4.4"]["country"], notes["8.8.4.4"]["as_org"]) == ("US", "GOOGLE")
    assert (notes["1.1.1.1"]["country"], notes["1.1.1.1"]["as_org"]) == ("AU", "CLOUDFLARENET")
    detail = client.get(reverse("investigations:run_detail", args=[run.pk])).content.decode()
    assert "CLOUDFLARENET" in detail
    assert "MaxMind GeoLite2 Country and ASN (geoip2fast) (2024-06-18), offline" in detail
    geo_url = reverse("investigations:run_geo", args=[run.pk])
    assert geo_url in detail

    page = client.get(geo_url).content.decode()
    assert "Where traffic comes from" in page
    assert 'href="?by=country&amp;country=US#addresses"' in page
    assert 'href="?by=country&amp;country=AU#addresses"' in page
    assert "MaxMind GeoLite2" in page and "2024-06-18" in page  # the data's source and date
    assert "No earlier run of this investigation has this view" in page

    listed = client.get(geo_url, {"country": "US"}).content.decode()
    assert reverse("entity_detail", args=["8.8.4.4"]) in listed
    assert reverse("entity_detail", args=["9.9.9.9"]) in listed
    assert reverse("entity_detail", args=["1.1.1.1"]) not in listed

    by_as = client.get(geo_url, {"by": "as", "as": "QUAD9-AS-1"}).content.decode()
    assert "QUAD9-AS-1" in by_as and "CLOUDFLARENET" in by_as
    assert reverse("entity_detail", args=["9.9.9.9"]) in by_as
    assert reverse("entity_detail", args=["8.8.4.4"]) not in by_as


def _geo_run(
    investigation: Any, countries: dict[str, int], systems: tuple[str, ...] = ()
) -> QueryRun:
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        status="succeeded",
        analyses=["geo"],
        parameters={"vpc_cidrs": ["10.0.0.0/16"]},
        finished_at=timezone.now(),
    )
    rows = [
        {"country": code, "country_name": code, "direction": "inbound", "action": "ACCEPT",
         "distinct_hosts": 1, "flows": flows, "packets": flows, "bytes": 100 * flows}
        for code, flows in countries.items()
    ]  # fmt: skip
    result = RunResult.objects.create(
        run=run,
        analysis="geo",
        title="Where traffic comes from",
        columns=list(rows[0]),
        row_count=len(rows),
        total_groups=len(rows),
        summary={"rank_by": "flows", "geo_source": {"name": "test data", "date": "2024-06-18"}},
    )
    ResultRow.objects.bulk_create(
        [ResultRow(result=result, position=i, data=row) for i, row in enumerate(rows)]
    )
    if systems:
        placed = RunResult.objects.create(
            run=run,
            analysis="geo:addresses",
            title="External addresses placed",
            columns=["ip", "country", "asn", "as_org"],
            row_count=len(systems),
            total_groups=len(systems),
        )
        ResultRow.objects.bulk_create(
            [
                ResultRow(
                    result=placed,
                    position=i,
                    data={"ip": f"198.51.100.{i + 1}", "country": "US", "asn": None, "as_org": org},
                )
                for i, org in enumerate(systems)
            ]
        )
    return run


@pytest.mark.django_db
def test_countries_new_to_the_investigation_are_named(investigation: Any, analyst: Any) -> None:
    _geo_run(investigation, {"US": 5, "DE": 1}, ("GOOGLE", "AMAZON-02"))
    later = _geo_run(investigation, {"US": 2, "RU": 9, "BR": 1}, ("GOOGLE", "RARE-NET"))
    page = client_for(analyst).get(reverse("investigations:run_geo", args=[later.pk]))
    text = page.content.decode()
    assert "earlier run with this view: <strong>BR, RU</strong>" in text
    assert "Autonomous systems new compared with them: <strong>RARE-NET</strong>" in text
    # No address on the run page carries AS labels: no word about the data there.
    detail = client_for(analyst).get(reverse("investigations:run_detail", args=[later.pk]))
    assert "GeoLite2" not in detail.content.decode()


@pytest.mark.django_db
def test_the_table_sorts_by_a_column_and_ignores_unknown_ones(
    investigation: Any, analyst: Any
) -> None:
    run = _geo_run(investigation, {"US": 5, "DE": 1, "JP": 3})
    url = reverse("investigations:run_geo", args=[run.pk])
    client = client_for(analyst)
    ranked = [r["key"] for r in client.get(url).context["rows"]]
    assert ranked == ["US", "JP", "DE"]
    by_name = client.get(url, {"sort": "country", "dir": "asc"}).context["rows"]
    assert [r["key"] for r in by_name] == ["DE", "JP", "US"]
    bogus = client.get(url, {"sort": "nope; DROP"}).context["rows"]
    assert [r["key"] for r in bogus] == ranked


@pytest.mark.django_db
def test_outsiders_get_404_and_a_run_without_the_analysis_says_so(
    investigation: Any, outsider: Any, analyst: Any, manager: Any
) -> None:
    run = _geo_run(investigation, {"US": 1})
    url = reverse("investigations:run_geo", args=[run.pk])
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(manager).get(url).status_code == 200
    RunResult.objects.filter(run=run).delete()
    missing = client_for(analyst).get(url)
    assert missing.status_code == 200
    assert "This run did not include the “Where traffic comes from” analysis" in (
        missing.content.decode()
    )


@pytest.mark.django_db
def test_the_entity_page_shows_country_and_as_of_a_public_address(analyst: Any) -> None:
    client = client_for(analyst)
    page = client.get(reverse("entity_detail", args=["1.1.1.1"])).content.decode()
    assert "Australia (AU)" in page and "CLOUDFLARENET" in page
    assert "MaxMind GeoLite2 Country and ASN (geoip2fast) (2024-06-18)" in page
    private = client.get(reverse("entity_detail", args=["10.0.1.10"])).content.decode()
    assert "Autonomous system" not in private and "GeoLite2" not in private


@pytest.mark.django_db
def test_addresses_in_result_tables_show_their_as_next_to_the_whois_label() -> None:
    from portal.templatetags.portal_tags import annotation_of

    notes = {
        "8.8.8.8": {"kind": "external", "label": "unknown", "org": None, "country": "US",
                    "asn": None, "as_org": "GOOGLE"},
        "9.9.9.9": {"kind": "external", "label": "Quad9", "org": "Quad9", "country": "US",
                    "asn": 19281, "as_org": "QUAD9-AS-1"},
        "10.0.0.1": {"kind": "internal", "label": "internal", "org": None, "country": None},
    }  # fmt: skip
    assert annotation_of("8.8.8.8", notes) == "GOOGLE · US"
    assert annotation_of("9.9.9.9", notes) == "Quad9 · AS19281 QUAD9-AS-1 · US"
    assert annotation_of("10.0.0.1", notes) == "internal"
