"""Analyzer SQL rendered for Athena: Trino dialect, hex address literals, refusals."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from analysis.addresses import cidr_bounds, hex_address, ip_to_int, sql_in_cidrs, sql_in_ips
from analysis.analyzers import AnalysisParams, all_analyzers, get_analyzer
from analysis.athena.render import (
    NotRenderable,
    local_only_reason,
    rendered_queries,
    to_trino,
    with_flows,
)
from analysis.formats import DEFAULT_FORMAT

V5_COLUMNS = {
    *DEFAULT_FORMAT.columns,
    "tcp_flags", "pkt_srcaddr", "pkt_dstaddr", "flow_direction", "pkt_src_aws_service",
    "pkt_dst_aws_service", "src_ip", "dst_ip", "pkt_src_ip", "pkt_dst_ip", "src_family",
    "dst_family", "start_ts", "end_ts",
}  # fmt: skip
PARAMS: list[dict[str, Any]] = [
    {},
    {"target_ips": ["10.0.1.10", "2001:db8::1"], "vpc_cidrs": ["10.0.0.0/16"], "port": 22},
    {"target_cidrs": ["fc00::/7"], "target_interfaces": ["eni-1"], "rank_by": "bytes"},
    {"lookup_table": [[22, 6, "ssh"]],
     "cidr_tables": [{"name": "t", "entries": [["10.0.0.0/8", {}], ["2600::/16", {}]]}]},
]  # fmt: skip
FLOWS = "SELECT * FROM flowlogs.some_table"


def test_every_renderable_analysis_renders_as_trino() -> None:
    rendered = 0
    for raw in PARAMS:
        params = AnalysisParams.from_dict(raw)
        for analyzer in all_analyzers():
            if local_only_reason(analyzer, params) or analyzer.is_applicable(params, V5_COLUMNS):
                continue
            for sql in rendered_queries(analyzer, params, V5_COLUMNS, FLOWS):
                tree = sqlglot.parse_one(sql, read="trino")
                assert tree.find(sqlglot.exp.With) is not None
                assert "UHUGEINT" not in sql.upper() and "INT128" not in sql.upper()
                rendered += 1
    assert rendered >= 4 * 14


def test_every_analysis_renders_unless_its_reference_data_is_too_large() -> None:
    params = AnalysisParams()
    assert all(local_only_reason(analyzer, params) is None for analyzer in all_analyzers())
    large = AnalysisParams(lookup_table=[(port, 17, "t") for port in range(4001)])
    reason = local_only_reason(get_analyzer("tag-mapping"), large)
    assert reason is not None and "4,001 rows" in reason
    with pytest.raises(NotRenderable, match="runs only locally"):
        rendered_queries(get_analyzer("tag-mapping"), large, V5_COLUMNS, FLOWS)


def test_reference_ranges_become_hex_strings() -> None:
    lo, hi = cidr_bounds("2600::/16")
    sql = to_trino(
        "SELECT r.label FROM (SELECT * FROM (VALUES ('x', CAST('"
        f"{lo}' AS UHUGEINT), CAST('{hi}' AS UHUGEINT))) AS ref(label, lo_ip, hi_ip)) AS r"
    )
    assert f"('x', '{hex_address(lo)}', '{hex_address(hi)}')" in sql
    with pytest.raises(NotRenderable, match="as an address"):
        to_trino("SELECT * FROM (VALUES ('x', 1.5)) AS ref(label, lo_ip)")


def test_address_ranges_become_hex_string_ranges() -> None:
    cidrs = ["10.0.0.0/8", "2600:1f18::/32", "fc00::/7"]
    sql = to_trino(f"SELECT COUNT(*) FROM flows WHERE {sql_in_cidrs('src_ip', cidrs)}")
    for cidr in cidrs:
        lo, hi = cidr_bounds(cidr)
        assert f"src_ip BETWEEN '{hex_address(lo)}' AND '{hex_address(hi)}'" in sql
    ips = ["10.0.1.10", "2001:db8::1"]
    sql = to_trino(f"SELECT 1 FROM flows WHERE {sql_in_ips('pkt_dst_ip', ips)} AND src_ip = 7")
    hexes = sorted(hex_address(ip_to_int(ip)) for ip in ips)
    assert f"pkt_dst_ip IN ('{hexes[0]}', '{hexes[1]}')" in sql
    assert f"src_ip = '{hex_address(7)}'" in sql


def test_hex_order_is_numeric_order() -> None:
    values = [0, 1, 2**32, 0xFFFF_0A00_0001, 2**127, 2**128 - 1, 0xFC00 << 112, 255, 256]
    assert sorted(values, key=hex_address) == sorted(values)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM flows JOIN ref_cidrs AS r ON src_ip BETWEEN r.lo AND r.hi", "ref_cidrs"),
        ("SELECT src_ip + 1 FROM flows", "address column src_ip"),
        ("SELECT CAST(dst_ip AS VARCHAR) FROM flows", "address column dst_ip"),
        ("SELECT SUM(src_ip) FROM flows", "address column src_ip"),
        ("SELECT 1 FROM flows WHERE src_ip > -1", "compares src_ip with -1"),
        ("SELECT 1 FROM flows WHERE dst_ip IN (1.5)", "compares dst_ip with 1.5"),
        ("SELECT 1 FROM flows WHERE src_ip = dstport", "compares src_ip with dstport"),
        ("SELECT CAST('5' AS UHUGEINT) FROM flows", "128-bit"),
        ("SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) AS y, flows", "below the top"),
    ],
)
def test_it_refuses_sql_that_would_mean_something_else(sql: str, message: str) -> None:
    with pytest.raises(NotRenderable, match=message):
        to_trino(sql)


def test_a_query_with_its_own_with_gets_flows_as_its_first_named_subquery() -> None:
    rendered = with_flows(
        to_trino("WITH g AS (SELECT dstport FROM flows) SELECT * FROM g"), "SELECT 1 AS dstport"
    )
    assert rendered.startswith("WITH flows AS (\n  SELECT 1 AS dstport\n),\ng AS (")
    assert sqlglot.parse_one(rendered, read="trino").find(exp.With) is not None
