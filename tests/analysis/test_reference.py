"""Parsing reference tables: lookup tags, CIDR tables of every kind, known hosts."""

from __future__ import annotations

import json

import pytest

from analysis.analyzers import AnalysisParams
from analysis.analyzers.reftables import _Prefix, flatten
from analysis.reference import (
    CidrEntry,
    ReferenceTableError,
    detect_cidr_kind,
    parse_cidr_table,
    parse_known_hosts,
    parse_lookup_table,
)

AWS_RANGES = {
    "syncToken": "1700000000",
    "createDate": "2024-05-01-00-00-00",
    "prefixes": [
        {
            "ip_prefix": "52.94.0.0/22",
            "region": "us-east-1",
            "service": "AMAZON",
            "network_border_group": "us-east-1",
        },
        {
            "ip_prefix": "52.94.0.0/22",
            "region": "us-east-1",
            "service": "S3",
            "network_border_group": "us-east-1",
        },
        {
            "ip_prefix": "3.5.140.0/22",
            "region": "ap-northeast-2",
            "service": "AMAZON",
            "network_border_group": "ap-northeast-2",
        },
    ],
    "ipv6_prefixes": [
        {
            "ipv6_prefix": "2a05:d07a:a000::/40",
            "region": "eu-south-1",
            "service": "EC2",
            "network_border_group": "eu-south-1",
        }
    ],
}


def test_it_reads_a_lookup_table_with_names_numbers_and_shared_tags() -> None:
    entries = parse_lookup_table(
        "dstport,protocol,tag\n443,TCP,web\n80,tcp,web\n53,Udp,dns\n53,6,dns\n\n# note\n0,1,ping\n"
    )
    assert [entry.as_param() for entry in entries] == [
        (443, 6, "web"),
        (80, 6, "web"),
        (53, 17, "dns"),
        (53, 6, "dns"),
        (0, 1, "ping"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("443,tcp,web\n80,tcp\n", 2, "expected 3 fields"),
        ("443,tcp,web\n70000,tcp,x\n", 2, "port must be"),
        ("dstport,protocol,tag\n443,tcpx,web\n", 2, "unknown protocol"),
        ("443,tcp,web\n443,tcp,\n", 2, "empty tag"),
        ("443,tcp,web\n22,tcp,ssh\n443,TCP,other\n", 3, "already tagged 'web' on line 1"),
        ("443,300,web\n", 1, "protocol number"),
    ],
)
def test_a_bad_lookup_row_is_rejected_with_its_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(ReferenceTableError, match=reason) as caught:
        parse_lookup_table(text)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}:")


def test_a_large_lookup_table_is_fine() -> None:
    text = "\n".join(
        f"{port},{'tcp' if port % 2 else 'udp'},tag{port % 7}" for port in range(12000)
    )
    entries = parse_lookup_table(text)
    assert len(entries) == 12000
    params = AnalysisParams(lookup_table=[entry.as_param() for entry in entries])
    assert len(params.lookup_table) == 12000


def test_an_empty_file_is_an_error() -> None:
    with pytest.raises(ReferenceTableError, match="no entries"):
        parse_lookup_table("dstport,protocol,tag\n")
    with pytest.raises(ReferenceTableError, match="no entries"):
        parse_cidr_table("# only a comment\n")


def test_it_reads_aws_ip_ranges_and_merges_services() -> None:
    table = parse_cidr_table(json.dumps(AWS_RANGES))
    assert table.kind == "aws-ip-ranges"
    assert table.entries == [
        CidrEntry("52.94.0.0/22", {"provider": "AWS", "service": "S3", "region": "us-east-1"}),
        CidrEntry(
            "3.5.140.0/22", {"provider": "AWS", "service": "AMAZON", "region": "ap-northeast-2"}
        ),
        CidrEntry(
            "2a05:d07a:a000::/40", {"provider": "AWS", "service": "EC2", "region": "eu-south-1"}
        ),
    ]
    param = table.as_param("aws")
    assert AnalysisParams(cidr_tables=[param]).cidr_tables[0]["name"] == "aws"


def test_it_reads_a_geofeed() -> None:
    text = (
        "# RFC 8805 geofeed\n"
        "192.0.2.0/24,US,US-CA,San Francisco,94107\n"
        "2001:db8:1::/48,DE,DE-BE,Berlin,\n"
        "198.51.100.0/24,NZ,,,\n"
    )
    assert detect_cidr_kind(text) == "geofeed"
    table = parse_cidr_table(text)
    assert [(e.cidr, e.labels) for e in table.entries] == [
        (
            "192.0.2.0/24",
            {"country": "US", "region": "US-CA", "city": "San Francisco", "postal": "94107"},
        ),
        ("2001:db8:1::/48", {"country": "DE", "region": "DE-BE", "city": "Berlin"}),
        ("198.51.100.0/24", {"country": "NZ"}),
    ]


def test_it_reads_plain_csv_with_or_without_a_header() -> None:
    with_header = parse_cidr_table("cidr,label,owner\n10.0.0.0/8,corp,it\n2001:db8::/32,lab,\n")
    assert with_header.kind == "csv"
    assert [(e.cidr, e.labels) for e in with_header.entries] == [
        ("10.0.0.0/8", {"label": "corp", "owner": "it"}),
        ("2001:db8::/32", {"label": "lab"}),
    ]
    bare = parse_cidr_table("203.0.113.0/24,partner vpn\n203.0.113.7,jump host\n")
    assert bare.kind == "csv"
    assert [(e.cidr, e.labels) for e in bare.entries] == [
        ("203.0.113.0/24", {"label": "partner vpn"}),
        ("203.0.113.7/32", {"label": "jump host"}),
    ]


def test_it_reads_subnets_json() -> None:
    text = json.dumps(
        {"subnets": [{"ip_prefix": "10.9.0.0/16", "name": "dmz"}, {"ipv6_prefix": "fd00::/8"}]}
    )
    table = parse_cidr_table(text)
    assert table.kind == "subnets-json"
    assert [(e.cidr, e.labels) for e in table.entries] == [
        ("10.9.0.0/16", {"name": "dmz"}),
        ("fd00::/8", {}),
    ]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("10.0.0.0/8,a\n10.0.0.1/8,b\n", 2, "not a CIDR block"),
        ("10.0.0.0/8,a\n10.0.0.0/8,b\n", 2, "already listed on line 1"),
        ("192.0.2.0/24,US\n192.0.2.0/33,US\n", 2, "not a CIDR block"),
        ('{"prefixes": [{"ip_prefix": "1.2.3.0/33"}]}', None, r"prefixes\[0\]"),
        ('{"subnets": [{"name": "x"}]}', None, r"subnets\[0\]: no prefix"),
        ('{"prefixes": [', 1, "invalid JSON"),
        ('{"other": []}', None, "neither AWS"),
    ],
)
def test_a_bad_cidr_file_is_rejected_whole(text: str, line: int | None, reason: str) -> None:
    with pytest.raises(ReferenceTableError, match=reason) as caught:
        parse_cidr_table(text)
    assert caught.value.line == line


def test_the_kind_can_be_forced() -> None:
    table = parse_cidr_table("10.0.0.0/8,US\n", kind="csv")
    assert table.entries[0].labels == {"label": "US"}
    assert parse_cidr_table("10.0.0.0/8,US\n").entries[0].labels == {"country": "US"}
    with pytest.raises(ValueError, match="unknown CIDR table kind"):
        parse_cidr_table("10.0.0.0/8,x\n", kind="nope")


def test_bytes_must_be_utf8() -> None:
    assert parse_cidr_table("\ufeff10.0.0.0/8,a\n".encode()).entries[0].cidr == "10.0.0.0/8"
    with pytest.raises(ReferenceTableError, match="not UTF-8"):
        parse_cidr_table(b"\xff\xfe10.0.0.0/8")


def test_it_reads_known_hosts() -> None:
    hosts = parse_known_hosts("ip,alias\n10.0.1.10,web\n2001:DB8::1,v6 gateway\n")
    assert hosts == {"10.0.1.10": "web", "2001:db8::1": "v6 gateway"}
    with pytest.raises(ReferenceTableError, match="not an IP address") as caught:
        parse_known_hosts("10.0.1.10,web\n10.0.1.300,bad\n")
    assert caught.value.line == 2
    with pytest.raises(ReferenceTableError, match="already called 'web' on line 1"):
        parse_known_hosts("10.0.1.10,web\n10.0.1.10,db\n")


def test_nested_prefixes_flatten_to_the_longest_match() -> None:
    def prefix(lo: int, hi: int, name: str) -> _Prefix:
        return _Prefix(lo, hi, name, name)

    segments = flatten(
        [prefix(0, 255, "/24"), prefix(16, 31, "/28"), prefix(20, 23, "/30"), prefix(300, 301, "b")]
    )
    assert [(lo, hi, p.cidr) for lo, hi, p in segments] == [
        (0, 15, "/24"),
        (16, 19, "/28"),
        (20, 23, "/30"),
        (24, 31, "/28"),
        (32, 255, "/24"),
        (300, 301, "b"),
    ]
