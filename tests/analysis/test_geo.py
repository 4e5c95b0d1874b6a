"""Country and AS of addresses from the shipped offline data, and the `geo` analysis over it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flowlines import flow

from analysis import geo
from analysis.engine import FlowEngine
from analysis.enrich import AddressInfo, Enricher
from analysis.formats import DEFAULT_FORMAT
from analysis.reference import parse_cidr_table

WriteLog = Callable[..., str]
HOST = "10.0.1.10"
VPC = ["10.0.0.0/16"]


def test_stable_allocations_map_to_their_country_and_as_organisation() -> None:
    # What the shipped GeoLite2 data (2024-06-18) says; these allocations have not moved.
    assert geo.lookup("8.8.8.8") == ("US", "United States", None, "GOOGLE")
    assert geo.lookup("1.1.1.1") == ("AU", "Australia", None, "CLOUDFLARENET")
    assert geo.lookup("9.9.9.9") == ("US", "United States", None, "QUAD9-AS-1")
    assert geo.lookup("2001:4860:4860::8888") == ("US", "United States", None, "GOOGLE")
    assert geo.lookup("::ffff:8.8.8.8") == geo.lookup("8.8.8.8")


@pytest.mark.parametrize(
    "address",
    ["10.1.2.3", "192.168.0.1", "100.64.0.1", "127.0.0.1", "169.254.169.254", "192.0.2.1",
     "203.0.113.5", "fd00::1", "fe80::1", "2001:db8::1", "224.0.0.1", "not an address", ""],
)  # fmt: skip
def test_private_reserved_and_bad_addresses_have_no_place(address: str) -> None:
    assert geo.lookup(address) is None


def test_the_data_says_what_it_is_when_and_under_which_licence() -> None:
    source = geo.source()
    assert source.name.startswith("MaxMind GeoLite2")
    assert source.version == "1.2.2"
    assert source.date == date(2024, 6, 18)
    assert "GeoLite2 End User License Agreement" in source.licence
    assert source.to_dict()["date"] == "2024-06-18"


def test_lookup_many_answers_each_distinct_address_once() -> None:
    found = geo.lookup_many(["8.8.8.8", "10.0.0.1", "8.8.8.8"])
    assert list(found) == ["8.8.8.8", "10.0.0.1"]
    assert found["8.8.8.8"] is not None and found["10.0.0.1"] is None


def test_the_enricher_adds_country_and_as_to_external_addresses_only() -> None:
    enricher = Enricher(internal_cidrs=VPC, geo_lookup=True)
    external = enricher.describe(AddressInfo("8.8.8.8", "skipped", "unknown"))
    assert (external["country"], external["asn"], external["as_org"]) == ("US", None, "GOOGLE")
    internal = enricher.describe(AddressInfo(HOST, "internal", "internal"))
    assert (internal["country"], internal["as_org"]) == (None, None)
    off = Enricher(internal_cidrs=VPC).describe(AddressInfo("8.8.8.8", "skipped", "unknown"))
    assert (off["country"], off.get("as_org")) == (None, None)


LINES = [
    " ".join(DEFAULT_FORMAT.names),
    flow("8.8.8.8", HOST, 53, 40000, 17, 1, 100, 0, "ACCEPT"),
    flow("8.8.4.4", HOST, 53, 40001, 17, 1, 300, 5, "ACCEPT"),
    flow("1.1.1.1", HOST, 40002, 22, 6, 2, 120, 10, "REJECT"),
    flow("1.1.1.1", HOST, 40003, 22, 6, 2, 120, 20, "REJECT"),
    flow(HOST, "9.9.9.9", 40004, 443, 6, 10, 5000, 30, "ACCEPT"),
    flow(HOST, "10.0.2.20", 40005, 443, 6, 10, 9999, 40, "ACCEPT"),  # internal: not here
]


@pytest.fixture
def loaded(engine: FlowEngine, write_log: WriteLog) -> FlowEngine:
    engine.load_files([write_log(LINES)])
    return engine


@pytest.fixture
def two_hosts(engine: FlowEngine, write_log: WriteLog) -> FlowEngine:
    """LINES and a second internal host whose only external peer is 1.1.1.1 (outbound)."""
    engine.load_files(
        [write_log([*LINES, flow("10.0.3.30", "1.1.1.1", 40006, 443, 6, 3, 700, 50, "ACCEPT")])]
    )
    return engine


def rows_of(rows: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(row[key] for key in keys) for row in rows]


def test_the_geo_analysis_adds_up_by_country_and_by_as(loaded: FlowEngine) -> None:
    result = loaded.run("geo", {"vpc_cidrs": VPC, "rank_by": "bytes"})
    measures = ("direction", "action", "distinct_hosts", "flows", "bytes")
    assert rows_of(result.rows, "country", *measures) == [
        ("US", "outbound", "ACCEPT", 1, 1, 5000),
        ("US", "inbound", "ACCEPT", 2, 2, 400),
        ("AU", "inbound", "REJECT", 1, 2, 240),
    ]
    assert result.rows[0]["country_name"] == "United States"
    systems = result.table("as")
    assert rows_of(systems.rows, "as_org", *measures) == [
        ("QUAD9-AS-1", "outbound", "ACCEPT", 1, 1, 5000),
        ("GOOGLE", "inbound", "ACCEPT", 2, 2, 400),
        ("CLOUDFLARENET", "inbound", "REJECT", 1, 2, 240),
    ]
    addresses = result.table("addresses")
    assert rows_of(addresses.rows, "ip", "country", "as_org", "flows") == [
        ("9.9.9.9", "US", "QUAD9-AS-1", 1),
        ("8.8.4.4", "US", "GOOGLE", 1),
        ("1.1.1.1", "AU", "CLOUDFLARENET", 2),
        ("8.8.8.8", "US", "GOOGLE", 1),
    ]
    summary = result.summary
    assert (summary["flows"], summary["bytes"]) == (5, 5640)  # the internal flow is not counted
    assert (summary["countries"], summary["autonomous_systems"], summary["addresses"]) == (2, 3, 4)
    assert summary["geo_source"]["date"] == "2024-06-18"
    assert "geo_note" not in summary


def test_the_geo_analysis_places_each_internal_hosts_peers(two_hosts: FlowEngine) -> None:
    aws = {"name": "aws", "entries": [["9.9.9.0/24", {"provider": "AWS", "service": "S3"}]]}
    params = {"vpc_cidrs": VPC, "rank_by": "bytes", "cidr_tables": [aws]}
    hosts = two_hosts.run("geo", params).table("hosts")
    assert rows_of(
        hosts.rows, "host", "country", "as_org", "aws_service", "peers", "flows", "bytes"
    ) == [
        (HOST, "US", "QUAD9-AS-1", "S3", 1, 1, 5000),
        ("10.0.3.30", "AU", "CLOUDFLARENET", None, 1, 1, 700),
        (HOST, "US", "GOOGLE", None, 2, 2, 400),
        (HOST, "AU", "CLOUDFLARENET", None, 1, 2, 240),
    ]
    first = {(r["host"], r["as_org"]): r["first_seen"] for r in hosts.rows}
    assert first[(HOST, "GOOGLE")] < first[(HOST, "CLOUDFLARENET")]
    assert not hosts.truncated and hosts.total_groups == 4
    top = two_hosts.run("geo", {**params, "top_n": 2}).table("hosts")
    assert len(top.rows) == 2 and top.truncated and top.total_groups == 4


def test_addresses_the_data_cannot_place_are_counted_as_unknown(
    engine: FlowEngine, write_log: WriteLog
) -> None:
    # 198.51.100.0/24 is documentation space: external to the VPC, but no country or AS.
    lines = [
        " ".join(DEFAULT_FORMAT.names),
        flow("198.51.100.7", HOST, 1, 22, 6, 1, 60, 0, "REJECT"),
    ]
    engine.load_files([write_log(lines)])
    result = engine.run("geo", {"vpc_cidrs": VPC})
    assert rows_of(result.rows, "country", "country_name", "flows") == [(None, None, 1)]
    assert rows_of(result.table("as").rows, "asn", "as_org", "flows") == [(None, None, 1)]
    assert result.summary["countries"] == 0


def test_the_readme_names_the_data_its_date_and_licence() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Where traffic comes from", 1)[1].split("\n## ", 1)[0]
    source = geo.source()
    assert source.date is not None and f"**{source.date.isoformat()}**" in section
    assert f"pinned at {source.version}" in section
    assert "GeoLite2 End User" in section and "This product includes GeoLite2 data" in section


def test_an_uploaded_cidr_country_asn_table_overrides_the_shipped_data(
    loaded: FlowEngine,
) -> None:
    # What an admin uploads as a CIDR reference table: `cidr,country,asn,as_org`.
    table = parse_cidr_table(
        b"cidr,country,asn,as_org\n"
        b"8.8.8.0/24,US,15169,Google LLC\n"
        b"1.0.0.0/8,JP,,\n"
        b"1.1.1.0/24,,AS13335,\n"
    ).as_param("our-geo")
    aws = {"name": "aws", "entries": [["9.9.9.0/24", {"provider": "AWS"}]]}  # not geo: ignored
    result = loaded.run("geo", {"vpc_cidrs": VPC, "rank_by": "bytes", "cidr_tables": [table, aws]})
    placed = {row["ip"]: row for row in result.table("addresses").rows}
    assert rows_of([placed["8.8.8.8"]], "country", "asn", "as_org") == [("US", 15169, "Google LLC")]
    assert rows_of([placed["8.8.4.4"]], "country", "asn", "as_org") == [("US", None, "GOOGLE")]
    # The longest prefix wins; what it does not say comes from the shipped data.
    assert rows_of([placed["1.1.1.1"]], "country", "asn", "as_org") == [
        ("AU", 13335, "CLOUDFLARENET")
    ]
    assert rows_of([placed["9.9.9.9"]], "country", "as_org") == [("US", "QUAD9-AS-1")]
    assert result.summary["geo_tables"] == ["our-geo"]
    systems = {(row["asn"], row["as_org"]) for row in result.table("as").rows}
    assert (15169, "Google LLC") in systems and (None, "GOOGLE") in systems


def test_overrides_place_addresses_the_shipped_data_cannot() -> None:
    table = {"name": "lab", "entries": [["198.51.100.0/24", {"country": "nl", "as_org": "Lab"}]]}
    overrides = geo.Overrides([table])
    assert overrides.apply("198.51.100.7", geo.lookup("198.51.100.7")) == ("NL", "NL", None, "Lab")
    assert overrides.apply("198.51.101.7", None) is None
    assert not geo.Overrides([])
