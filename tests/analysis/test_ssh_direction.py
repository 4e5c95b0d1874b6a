"""Without a target, ssh-outbound shows SSH sessions the internal hosts opened, never the
sessions the internet opened to them (and ssh-response only the internal servers' answers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowlines import VPCS, flow

from analysis.engine import FlowEngine

WriteLog = Callable[..., str]

LINES = [
    flow("203.0.113.50", "10.0.1.10", 50000, 22, 6, 10, 900, 0, "ACCEPT"),  # inbound session
    flow("10.0.1.10", "203.0.113.50", 22, 50000, 6, 10, 4000, 1, "ACCEPT"),  # its answers
    flow("10.0.1.10", "198.51.100.7", 40000, 22, 6, 8, 700, 2, "ACCEPT"),  # outbound session
    flow("198.51.100.7", "10.0.1.10", 22, 40000, 6, 8, 3000, 3, "ACCEPT"),  # outbound answers
    flow("10.0.1.10", "10.1.5.5", 41000, 22, 6, 2, 120, 4, "REJECT"),  # internal, outbound
]


def _rows(result: Any, *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(row[key] for key in keys) for row in result.rows]


def test_outbound_without_a_target_is_what_internal_hosts_opened(
    engine: FlowEngine, write_log: WriteLog
) -> None:
    engine.load_files([write_log(LINES)])
    outbound = engine.run("ssh-outbound", {"vpc_cidrs": VPCS})
    assert _rows(outbound, "dstaddr", "action", "flows") == [
        ("198.51.100.7", "ACCEPT", 1),
        ("10.1.5.5", "REJECT", 1),
    ]
    response = engine.run("ssh-response", {"vpc_cidrs": VPCS})
    assert _rows(response, "dstaddr", "action", "flows") == [("203.0.113.50", "ACCEPT", 1)]


def test_with_a_target_it_follows_the_target(engine: FlowEngine, write_log: WriteLog) -> None:
    engine.load_files([write_log(LINES)])
    outbound = engine.run("ssh-outbound", {"vpc_cidrs": VPCS, "target_ips": ["198.51.100.7"]})
    assert _rows(outbound, "dstaddr") == []  # it opened no SSH session on port 22 anywhere
