"""Detections on the demo data: every planted incident found, nothing else High."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analysis.analyzers import AnalysisParams
from analysis.demo import DemoManifest, generate
from analysis.engine import FlowEngine
from analysis.findings import (
    BACKGROUND_SCANNING,
    BEACONING,
    CRYPTO_MINING,
    DNS_OUTSIDE_RESOLVER,
    HIGH_SEVERITY,
    INTERNAL_FAN_OUT,
    PORT_PROBE_UNPROTECTED,
    PORT_SCAN,
    RDP_BRUTE_FORCE,
    SSH_BRUTE_FORCE,
    UNUSUAL_OUTBOUND_VOLUME,
    Finding,
)

END = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# Which finding type reveals each planted incident, and who the finding's peer is.
EXPECTED = {
    "ssh-bruteforce": SSH_BRUTE_FORCE,
    "port-scan": PORT_SCAN,
    "exfiltration": UNUSUAL_OUTBOUND_VOLUME,
    "rdp-db-probe": RDP_BRUTE_FORCE,
    "db-probe": PORT_PROBE_UNPROTECTED,
    "lateral-movement": INTERNAL_FAN_OUT,
    "beaconing": BEACONING,
    "crypto-mining": CRYPTO_MINING,
    "outside-dns": DNS_OUTSIDE_RESOLVER,
}
# Incidents found at their outside end (the peer receiving data or check-ins).
FOUND_AT_TARGET = ("exfiltration", "beaconing", "crypto-mining")


def incident_peer(manifest: DemoManifest, kind: str) -> str:
    incident = manifest.incident(kind)
    return incident.targets[0] if kind in FOUND_AT_TARGET else incident.source


@pytest.fixture(
    scope="module", params=[(20_000, 7), (60_000, 11), (150_000, 3)], ids=lambda p: f"{p}"
)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DemoManifest, FlowEngine]]:
    lines, seed = request.param
    path = tmp_path_factory.mktemp("detections") / "demo.log.gz"
    manifest = generate(path, lines=lines, seed=seed, end=END, gzip=True)
    with FlowEngine() as engine:
        engine.load_files([str(path)])
        yield manifest, engine


def findings_of(engine: FlowEngine, params: dict[str, object]) -> list[dict[str, object]]:
    return engine.run("detections", params).findings


def test_every_planted_incident_is_found(demo: tuple[DemoManifest, FlowEngine]) -> None:
    manifest, engine = demo
    findings = findings_of(engine, {"vpc_cidrs": manifest.vpc_cidrs})
    found = {(f["type"], f["evidence"]["peer"]) for f in findings}  # type: ignore[index]
    assert set(EXPECTED) == {incident.kind for incident in manifest.incidents}
    for kind, finding_type in EXPECTED.items():
        assert (finding_type, incident_peer(manifest, kind)) in found, kind


def test_nothing_but_the_incidents_is_high(demo: tuple[DemoManifest, FlowEngine]) -> None:
    manifest, engine = demo
    planted = {(EXPECTED[i.kind], incident_peer(manifest, i.kind)) for i in manifest.incidents}
    for params in ({"vpc_cidrs": manifest.vpc_cidrs}, {}):  # {}: private ranges are internal
        for finding in findings_of(engine, params):
            key = (finding["type"], finding["evidence"]["peer"])  # type: ignore[index]
            if finding["type"] == BACKGROUND_SCANNING:
                assert finding["severity"] == 2  # the internet's noise, summed up once
                continue
            if finding["severity"] >= HIGH_SEVERITY:  # type: ignore[operator]
                assert key in planted, finding
            else:
                # Medium/low findings are still about an incident's actor (the brute
                # forcer also probed SSH), never about the normal traffic.
                peers = {peer for _, peer in planted}
                assert finding["evidence"]["peer"] in peers, finding  # type: ignore[index]


def test_findings_carry_evidence_and_times(demo: tuple[DemoManifest, FlowEngine]) -> None:
    manifest, engine = demo
    result = engine.run("detections", {"vpc_cidrs": manifest.vpc_cidrs})
    by_type = {f["type"]: f for f in result.findings}
    exfil = by_type[UNUSUAL_OUTBOUND_VOLUME]
    assert exfil["evidence"]["targets"] == [manifest.instance("db").ip]
    assert exfil["evidence"]["ports"] == [443]
    assert exfil["evidence"]["bytes"] > 3_000_000_000
    brute = by_type[SSH_BRUTE_FORCE]
    assert sorted(brute["evidence"]["targets"]) == sorted(
        manifest.incident("ssh-bruteforce").targets
    )
    assert brute["evidence"]["flows"] == manifest.incident("ssh-bruteforce").flows
    lateral = by_type[INTERNAL_FAN_OUT]
    assert lateral["evidence"]["target_count"] == len(manifest.incident("lateral-movement").targets)
    assert lateral["evidence"]["ports"] == [22, 445, 3389]
    for finding in result.findings:
        assert manifest.start.isoformat() <= finding["first_seen"] <= finding["last_seen"]
    assert [row["type"] for row in result.rows] == [f["type"] for f in result.findings]
    assert result.summary["findings"] == len(result.findings)


def test_thresholds_are_parameters(demo: tuple[DemoManifest, FlowEngine]) -> None:
    manifest, engine = demo
    strict = {"vpc_cidrs": manifest.vpc_cidrs, "thresholds": {"portscan_min_ports": 5000}}
    types = {f["type"] for f in findings_of(engine, strict)}
    assert PORT_SCAN not in types and SSH_BRUTE_FORCE in types
    params = AnalysisParams.from_dict(strict)
    assert params.thresholds["portscan_min_ports"] == 5000
    assert params.thresholds["fanout_min_hosts"] == 20  # the others keep their defaults


def test_a_finding_refuses_a_severity_out_of_range() -> None:
    with pytest.raises(ValueError, match="severity"):
        Finding(type=PORT_SCAN, severity=11, title="x", explanation="y")
    finding = Finding(type=PORT_SCAN, severity=7, title="x", explanation="y")
    assert finding.to_dict()["severity_label"] == "High"


def test_detections_ignore_quiet_logs(tmp_path: Path) -> None:
    log = tmp_path / "quiet.log"
    log.write_text(
        "2 1 eni-1 10.0.0.5 10.0.0.6 40000 22 6 30 9000 1700000000 1700000010 ACCEPT OK\n"
    )
    with FlowEngine() as engine:
        engine.load_files([str(log)])
        assert engine.run("detections", {}).rows == []


def key(finding: dict[str, object]) -> tuple[object, object]:
    return finding["type"], finding["evidence"]["peer"]  # type: ignore[index]


def _talks_to(engine: FlowEngine, peer: str, target: str) -> bool:
    """Some record has `peer` and `target` on its two sides, either way round."""
    row = engine.connection.execute(
        "SELECT count(*) FROM flows WHERE (srcaddr = ? AND dstaddr = ?) "
        "OR (srcaddr = ? AND dstaddr = ?)",
        [peer, target, target, peer],
    ).fetchone()
    return bool(row and row[0])


@pytest.mark.parametrize("incident", ["ssh-bruteforce", "lateral-movement", "exfiltration"])
def test_a_target_keeps_only_the_findings_that_involve_it(
    demo: tuple[DemoManifest, FlowEngine], incident: str
) -> None:
    manifest, engine = demo
    planted = manifest.incident(incident)
    # A host the incident touched: one of the addresses tried, or the exfiltrating host.
    target = planted.source if incident == "exfiltration" else planted.targets[-1]
    everything = findings_of(engine, {"vpc_cidrs": manifest.vpc_cidrs})
    scoped = findings_of(engine, {"vpc_cidrs": manifest.vpc_cidrs, "target_ips": [target]})
    assert (EXPECTED[incident], incident_peer(manifest, incident)) in {key(f) for f in scoped}
    # Thresholds are judged over all records: a kept finding is the same finding, whole.
    by_key = {key(f): f for f in everything}
    for finding in scoped:
        assert finding == by_key[key(finding)]
    # A kept finding has a record between its peer and the target (the finding's own
    # records decide, which this cannot see: a peer may meet the target in other traffic).
    involved = {
        key(f)
        for f in everything
        if f["evidence"]["peer"] == target  # type: ignore[index]
        or _talks_to(engine, f["evidence"]["peer"], target)  # type: ignore[index]
    }
    # (The background-noise summary names no single peer: its records decide alone.)
    assert {key(f) for f in scoped if f["evidence"]["peer"] is not None} <= involved
    assert len(scoped) < len(everything)  # the other incidents' findings are left out
    summary = engine.run(
        "detections", {"vpc_cidrs": manifest.vpc_cidrs, "target_ips": [target]}
    ).summary
    assert summary["not_involving_target"] == len(everything) - len(scoped)  # and say so


def test_a_target_that_nothing_involves_has_no_findings(
    demo: tuple[DemoManifest, FlowEngine],
) -> None:
    manifest, engine = demo
    result = engine.run(
        "detections", {"vpc_cidrs": manifest.vpc_cidrs, "target_ips": ["192.0.2.77"]}
    )
    assert result.findings == [] and result.rows == []
    assert result.summary["target"]["ips"] == ["192.0.2.77"]  # type: ignore[index]
    everything = findings_of(engine, {"vpc_cidrs": manifest.vpc_cidrs})
    assert result.summary["not_involving_target"] == len(everything)
