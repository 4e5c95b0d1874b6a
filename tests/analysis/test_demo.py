"""The demo generator: deterministic bytes, and incidents the analyzers can see."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from analysis.demo import EXFIL_PEER, SCANNER, SSH_ATTACKER, DemoManifest, generate
from analysis.engine import FlowEngine

END = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_the_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    for gz in (False, True):
        first = generate(tmp_path / "a", lines=5000, seed=3, end=END, gzip=gz)
        second = generate(tmp_path / "b", lines=5000, seed=3, end=END, gzip=gz)
        assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
        assert first.to_dict() | {"path": ""} == second.to_dict() | {"path": ""}
    generate(tmp_path / "c", lines=5000, seed=4, end=END)
    assert (tmp_path / "c").read_bytes() != (tmp_path / "a").read_bytes()


def test_it_writes_exactly_the_lines_asked_for(tmp_path: Path) -> None:
    generate(tmp_path / "x.log", lines=4321, end=END)
    lines = (tmp_path / "x.log").read_text().splitlines()
    assert len(lines) == 4322  # plus the header
    assert lines[0].startswith("version account-id interface-id")


def test_it_refuses_too_few_lines(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least"):
        generate(tmp_path / "x.log", lines=10)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoManifest, FlowEngine]:
    path = tmp_path_factory.mktemp("demo") / "demo.log.gz"
    manifest = generate(path, lines=20000, seed=7, end=END, gzip=True)
    engine = FlowEngine()
    stats = engine.load_files([str(path)])
    assert (stats.total, stats.malformed, stats.nodata, stats.skipdata) == (20000, 0, 5, 3)
    assert stats.ok == 20000 - 8
    assert stats.first_seen is not None and stats.first_seen >= manifest.start
    assert stats.last_seen is not None and stats.last_seen <= END
    return manifest, engine


def test_the_brute_force_tops_ssh_inbound(demo: tuple[DemoManifest, FlowEngine]) -> None:
    manifest, engine = demo
    incident = manifest.incident("ssh-bruteforce")
    result = engine.run("ssh-inbound", {"vpc_cidrs": manifest.vpc_cidrs})
    top = result.rows[0]
    assert (top["srcaddr"], top["action"]) == (SSH_ATTACKER, "ACCEPT")
    attacker_flows = sum(row["flows"] for row in result.rows if row["srcaddr"] == SSH_ATTACKER)
    assert attacker_flows == incident.flows == 400

    web = manifest.instance("web").ip
    to_web = engine.run("ssh-inbound", {"target_ips": [web]})
    assert {(row["srcaddr"], row["action"]) for row in to_web.rows} >= {
        (SSH_ATTACKER, "REJECT"),
        (SCANNER, "REJECT"),
    }


def test_traffic_summary_accounts_for_every_record(demo: tuple[DemoManifest, FlowEngine]) -> None:
    _, engine = demo
    result = engine.run("traffic-summary", {})
    assert {row["protocol"] for row in result.rows} == {"tcp", "udp", "icmp"}
    assert result.summary["flows"] == engine.record_count()
    tcp_reject = next(r for r in result.rows if (r["protocol"], r["action"]) == ("tcp", "REJECT"))
    assert tcp_reject["flows"] > 1000  # scan, probes, lateral movement and noise


def test_the_other_incidents_are_in_the_data(demo: tuple[DemoManifest, FlowEngine]) -> None:
    manifest, engine = demo
    con = engine.connection
    scanned = con.execute(
        "SELECT count(DISTINCT dstport) FROM flows WHERE srcaddr = ?", [SCANNER]
    ).fetchone()
    assert scanned is not None and scanned[0] >= 500
    top_peer = con.execute(
        "SELECT dstaddr, sum(bytes) AS b FROM flows WHERE srcaddr = ? GROUP BY 1 ORDER BY 2 DESC",
        [manifest.instance("db").ip],
    ).fetchall()
    assert top_peer[0][0] == EXFIL_PEER and top_peer[0][1] > 3_000_000_000
    assert top_peer[0][1] > 100 * max(row[1] for row in top_peer[1:])
    mongo = con.execute(
        "SELECT count(*) FROM flows WHERE dstport = 27017 AND action = 'ACCEPT'"
    ).fetchone()
    assert mongo is not None and mongo[0] == 6
    lateral = manifest.incident("lateral-movement")
    fanout = con.execute(
        "SELECT count(DISTINCT dstaddr) FROM flows WHERE srcaddr = ? AND dstport IN (22, 3389, 445)",
        [manifest.instance("app").ip],
    ).fetchone()
    assert fanout is not None and fanout[0] == len(lateral.targets) >= 100
