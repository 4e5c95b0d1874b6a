"""An uploaded AS database (iptoasn.com ip2asn, GeoLite2-ASN CSV): read row by row with bad
lines named, stored as sorted ranges, and joined set-based by the `geo` analysis."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from flowlines import flow

from analysis import geo
from analysis.analyzers import AnalysisParams
from analysis.engine import FlowEngine
from analysis.formats import DEFAULT_FORMAT
from analysis.reference import ReferenceTableError, parse_as_database

HEADER = " ".join(DEFAULT_FORMAT.names)
IP2ASN = (
    "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n"
    "1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n"
    "8.8.8.0\t8.8.8.255\t15169\tUS\tGOOGLE\n"
    "185.199.108.0\t185.199.108.127\t64500\tNL\tEXAMPLE-NET\n"
    "2001:4860::\t2001:4860:ffff:ffff:ffff:ffff:ffff:ffff\t15169\tUS\tGOOGLE\n"
)


def _stored(tmp_path: Path, text: str = IP2ASN) -> geo.AsDatabase:
    parsed = parse_as_database(gzip.compress(text.encode()))
    path = geo.write_as_database(parsed, tmp_path, "sha", made=date(2026, 12, 1))
    return geo.AsDatabase.open(path)


def test_it_reads_ip2asn_gzipped_leaving_unrouted_ranges_out() -> None:
    parsed = parse_as_database(gzip.compress(IP2ASN.encode()))
    assert parsed.file_format == "ip2asn"
    assert [(r.asn, r.as_org, r.country) for r in parsed.ranges] == [
        (13335, "CLOUDFLARENET", "US"),
        (15169, "GOOGLE", "US"),
        (64500, "EXAMPLE-NET", "NL"),
        (15169, "GOOGLE", "US"),
    ]
    assert parsed.made is not None  # the gzip member's time: the data's date


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.0.0.0\t1.0.0.255\t13335\tUS\n", "line 1: expected 5 tab-separated fields"),
        (IP2ASN + "9.9.9.0\t9.9.9.255\tAS-X\tCH\tQUAD9\n", "line 6: AS number must be"),
        ("9.9.9.0\tnope\t19281\tCH\tQUAD9\n", "line 1: range_end: not an IP address"),
        ("9.9.9.255\t9.9.9.0\t19281\tCH\tQUAD9\n", "line 1: range_end is below range_start"),
        ("9.9.9.0\t2001:db8::\t19281\tCH\tQUAD9\n", "line 1: range_start and range_end are"),
        ("9.9.9.0\t9.9.9.255\t19281\tSwiss\tQUAD9\n", "line 1: country must be a 2-letter"),
        (IP2ASN + "8.8.8.128\t8.8.9.0\t1\tUS\tX\n", "ranges overlap: 8.8.8.128 "),
        ("1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n", "no routed ranges"),
        ("just text\n", "line 1: neither an iptoasn.com ip2asn TSV"),
    ],
)
def test_a_bad_file_is_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(ReferenceTableError, match=message):
        parse_as_database(text.encode())


def test_it_reads_a_geolite2_asn_csv() -> None:
    parsed = parse_as_database(
        b"network,autonomous_system_number,autonomous_system_organization\n"
        b"8.8.8.0/24,15169,GOOGLE\n2001:4860::/32,15169,GOOGLE\n"
    )
    assert parsed.file_format == "geolite2-asn-csv"
    assert [(r.asn, r.country) for r in parsed.ranges] == [(15169, None), (15169, None)]
    with pytest.raises(ReferenceTableError, match="line 2: not a CIDR block"):
        parse_as_database(
            b"network,autonomous_system_number,autonomous_system_organization\n"
            b"8.8.8.1/24,15169,GOOGLE\n"
        )


def test_the_stored_ranges_place_addresses_in_one_join(tmp_path: Path) -> None:
    database = _stored(tmp_path)
    assert database.source.name == "iptoasn.com ip2asn"
    assert "PDDL" in database.source.licence
    placed = geo.lookup_many(
        ["8.8.8.8", "1.0.0.1", "185.199.108.127", "185.199.108.128", "2001:4860:4860::8888"],
        database,
    )
    assert placed["8.8.8.8"] == ("US", "United States", 15169, "GOOGLE")
    assert placed["1.0.0.1"] == ("US", "United States", 13335, "CLOUDFLARENET")
    assert placed["185.199.108.127"] == ("NL", "The Netherlands", 64500, "EXAMPLE-NET")
    assert placed["185.199.108.128"].asn is None  # past the range's end: the shipped data
    assert placed["2001:4860:4860::8888"] == ("US", "United States", 15169, "GOOGLE")
    # IPv6 bounds are exact (128-bit), to the last address of the range and not one past it.
    edges = geo.lookup_many(["2001:4860:ffff:ffff:ffff:ffff:ffff:ffff", "2001:4861::"], database)
    assert edges["2001:4860:ffff:ffff:ffff:ffff:ffff:ffff"].asn == 15169
    assert edges["2001:4861::"] is None or edges["2001:4861::"].asn is None
    # Opened again: the same loaded table, not a second copy.
    assert geo.AsDatabase.open(database.path) is database


def test_the_geo_analysis_takes_as_numbers_from_the_database(
    tmp_path: Path, write_log: Callable[..., str]
) -> None:
    database = _stored(tmp_path)
    path = write_log(
        [
            HEADER,
            flow("8.8.8.8", "10.0.1.10", 40000, 443, 6, 1, 100, 0, "ACCEPT"),
            flow("10.0.1.10", "185.199.108.9", 40001, 443, 6, 1, 100, 5, "REJECT"),
        ]
    )
    with FlowEngine() as engine:
        engine.load_files([path])
        params = AnalysisParams(vpc_cidrs=["10.0.0.0/16"], as_database=str(database.path))
        result = engine.run("geo", params)
    placed = {row["ip"]: row for row in result.table("addresses").rows}
    assert (placed["8.8.8.8"]["asn"], placed["8.8.8.8"]["as_org"]) == (15169, "GOOGLE")
    assert (placed["185.199.108.9"]["asn"], placed["185.199.108.9"]["country"]) == (64500, "NL")
    systems = {(row["asn"], row["direction"]) for row in result.table("as").rows}
    assert systems == {(15169, "inbound"), (64500, "outbound")}
    assert result.summary["as_source"]["date"] == date.today().isoformat()


def test_a_missing_database_file_is_said_not_used(
    tmp_path: Path, write_log: Callable[..., str]
) -> None:
    path = write_log([HEADER, flow("8.8.8.8", "10.0.1.10", 40000, 443, 6, 1, 100, 0, "ACCEPT")])
    with FlowEngine() as engine:
        engine.load_files([path])
        params = AnalysisParams(vpc_cidrs=["10.0.0.0/16"], as_database=str(tmp_path / "x.parquet"))
        result = engine.run("geo", params)
    assert "as_source" not in result.summary
    assert "was not used" in result.summary["as_source_note"]
    assert result.table("addresses").rows[0]["as_org"] == "GOOGLE"  # the shipped data
