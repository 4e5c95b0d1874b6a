"""The shared integer space for IPv4/IPv6 addresses, CIDR bounds and SQL conditions."""

from __future__ import annotations

import ipaddress

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.addresses import (
    IPV4_MAPPED_BASE,
    cidr_bounds,
    int_to_ip,
    ip_to_int,
    sql_in_cidrs,
    sql_in_ips,
)
from analysis.lineparse import MACROS_SQL


def inside(ip: str, cidr: str) -> bool:
    lo, hi = cidr_bounds(cidr)
    return lo <= ip_to_int(ip) <= hi


def test_cidr_membership_at_the_boundaries() -> None:
    assert not inside("10.0.10.5", "10.0.1.0/24")
    assert not inside("10.1.0.5", "10.0.0.0/16")
    assert inside("10.1.0.5", "10.0.0.0/15")
    assert inside("10.0.1.0", "10.0.1.0/24")
    assert inside("10.0.1.255", "10.0.1.0/24")
    assert not inside("10.0.2.0", "10.0.1.0/24")
    assert not inside("10.0.0.255", "10.0.1.0/24")
    assert inside("2001:db8::ffff", "2001:db8::/112")
    assert not inside("2001:db8::1:0", "2001:db8::/112")


def test_ipv4_is_mapped_into_the_ipv6_space() -> None:
    assert ip_to_int("0.0.0.0") == IPV4_MAPPED_BASE
    assert ip_to_int("10.0.0.1") == ip_to_int("::ffff:10.0.0.1")
    assert cidr_bounds("0.0.0.0/0") == (IPV4_MAPPED_BASE, IPV4_MAPPED_BASE + 2**32 - 1)
    assert cidr_bounds("::/0") == (0, 2**128 - 1)


@pytest.mark.parametrize(
    "ip", ["10.0.0.1", "255.255.255.255", "0.0.0.0", "2001:db8::1", "::", "::1", "fe80::1:2"]
)
def test_int_to_ip_inverts_ip_to_int(ip: str) -> None:
    assert int_to_ip(ip_to_int(ip)) == ip


def test_bad_input_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        ip_to_int("10.0.0.256")
    with pytest.raises(ValueError, match="not a CIDR block"):
        cidr_bounds("10.0.0.1/24")
    with pytest.raises(ValueError, match="not a CIDR block"):
        cidr_bounds("10.0.0.0/33")


def test_sql_conditions_select_the_right_rows() -> None:
    con = duckdb.connect()
    con.execute(MACROS_SQL)
    addresses = ["10.0.1.5", "10.0.10.5", "10.1.0.5", "2001:db8::1", "2001:db9::1", "ffff::1"]
    con.execute(
        "CREATE TABLE a AS SELECT s, flowlog_ip_int(s) AS ip FROM unnest(?) AS t(s)", [addresses]
    )

    def matching(condition: str) -> list[str]:
        sql = f"SELECT s FROM a WHERE {condition} ORDER BY s"
        return [row[0] for row in con.execute(sql).fetchall()]

    assert matching(sql_in_cidrs("ip", ["10.0.1.0/24"])) == ["10.0.1.5"]
    assert matching(sql_in_cidrs("ip", ["10.0.0.0/16"])) == ["10.0.1.5", "10.0.10.5"]
    assert matching(sql_in_cidrs("ip", ["10.0.0.0/15"])) == ["10.0.1.5", "10.0.10.5", "10.1.0.5"]
    assert matching(sql_in_cidrs("ip", ["2001:db8::/32", "ff00::/8"])) == [
        "2001:db8::1",
        "ffff::1",
    ]
    assert matching(sql_in_ips("ip", ["10.1.0.5", "ffff::1"])) == ["10.1.0.5", "ffff::1"]
    assert matching(sql_in_ips("ip", [])) == []
    assert matching(sql_in_cidrs("ip", [])) == []


def test_sql_address_parsing_matches_python() -> None:
    con = duckdb.connect()
    con.execute(MACROS_SQL)
    good = [
        "0.0.0.0",
        "10.0.1.10",
        "255.255.255.255",
        "::",
        "::1",
        "1::",
        "2001:db8::1",
        "2001:DB8:0:0:8:800:200C:417A",
        "fe80::1:2:3:4:5:6",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ]
    bad = [
        "10.0.0.256",
        "10.0.0",
        "10.0.0.1.2",
        "1.2.3.-4",
        "2001:db8:::1",
        "1:2:3:4:5:6:7:8:9",
        "1::2::3",
        "12345::1",
        "g::1",
        ":1",
        "1:",
        "abc",
        "",
        "1:2:3:4:5:6:7",
        "::ffff:1.2.3.4",
    ]
    rows = con.execute("SELECT s, flowlog_ip_int(s) FROM unnest(?) AS t(s)", [good + bad])
    result = dict(rows.fetchall())
    for ip in good:
        assert result[ip] == ip_to_int(ip), ip
    for ip in bad:
        assert result[ip] is None, ip


@st.composite
def _ipv6_texts(draw: st.DrawFn) -> str:
    """An IPv6 address written any way a log may write it: compressed, exploded, without
    leading zeros but no '::', in upper or mixed case."""
    address = draw(st.ip_addresses(v=6))
    exploded = address.exploded
    groups = ":".join(part.lstrip("0") or "0" for part in exploded.split(":"))
    text = draw(st.sampled_from([address.compressed, exploded, groups]))
    if "." in text:  # an embedded IPv4 form is not how flow logs write addresses
        text = exploded
    return draw(st.sampled_from([text, text.upper(), text.swapcase()]))


_SQL = duckdb.connect()
_SQL.execute(MACROS_SQL)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ipv6_texts(), min_size=1, max_size=20))
def test_sql_ipv6_parsing_matches_python_for_any_address(texts: list[str]) -> None:
    rows = _SQL.execute("SELECT s, flowlog_ip_int(s) FROM unnest(?) AS t(s)", [texts]).fetchall()
    for text, value in rows:
        assert value == int(ipaddress.IPv6Address(text)) == ip_to_int(text), text
