"""Every detection of the catalogue: its own cases (records in, findings out, look-alikes
silent), its metadata, and its SQL rendered for Athena."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

from analysis.analyzers import AnalysisParams
from analysis.analyzers.params import DEFAULT_THRESHOLDS, THRESHOLD_LABELS
from analysis.athena.render import render
from analysis.detections import all_detections, catalogue, get_detection
from analysis.detections.base import TACTICS, TECHNIQUES, Case, Context, Detection
from analysis.engine import FlowEngine
from analysis.findings import FINDING_TYPES

CASES = [
    pytest.param(detection, case, id=f"{detection.id}: {case.name}")
    for detection in all_detections()
    for case in detection.cases
]
V5_COLUMNS = {
    "version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport",
    "protocol", "packets", "bytes", "start", "end", "action", "log_status", "tcp_flags",
    "flow_direction", "pkt_srcaddr", "pkt_dstaddr", "pkt_src_aws_service",
    "pkt_dst_aws_service", "src_ip", "dst_ip", "pkt_src_ip", "pkt_dst_ip", "start_ts", "end_ts",
}  # fmt: skip


@pytest.mark.parametrize(("detection", "case"), CASES)
def test_each_case_gives_exactly_its_findings(
    detection: Detection, case: Case, tmp_path: Path
) -> None:
    log = tmp_path / "case.log"
    log.write_text((case.header + "\n" if case.header else "") + "\n".join(case.lines) + "\n")
    with FlowEngine() as engine:
        engine.load_files([str(log)])
        result = engine.run("detections", case.params)
    found = {
        (f["type"], str(f["evidence"]["peer"]))
        for f in result.findings
        if f["detection_id"] == detection.id
    }
    assert found == set(case.expect)
    for finding in result.findings:
        if finding["detection_id"] == detection.id:
            assert finding["attack"] and finding["evidence"]["detection_id"] == detection.id


def test_every_detection_has_an_attack_case_and_a_look_alike() -> None:
    for detection in all_detections():
        assert any(case.expect for case in detection.cases), detection.id
        assert any(not case.expect for case in detection.cases), detection.id


def test_the_catalogue_describes_every_detection() -> None:
    entries = catalogue()
    assert [entry["id"] for entry in entries] == [d.id for d in all_detections()]
    assert len({entry["id"] for entry in entries}) == len(entries) >= 16
    used: set[str] = set()
    for detection in all_detections():
        assert detection.type in FINDING_TYPES
        assert set(detection.tactics) <= set(TACTICS) and detection.tactics
        assert set(detection.techniques) <= set(TECHNIQUES) and detection.techniques
        assert 1 <= detection.severity <= 10 and detection.severity_rises
        assert len(detection.description) > 80
        for name in detection.parameters:
            assert name in DEFAULT_THRESHOLDS and name in THRESHOLD_LABELS
        used |= set(detection.parameters)
    assert used == set(DEFAULT_THRESHOLDS)  # every threshold belongs to a detection
    ssh = get_detection("ssh-brute-force").describe()
    assert ssh["techniques"][0] == {"id": "T1110.001", "name": "Brute Force: Password Guessing"}
    assert {"name": "bruteforce_min_attempts", "default": 20,
            "meaning": THRESHOLD_LABELS["bruteforce_min_attempts"]} in ssh["parameters"]  # fmt: skip
    with pytest.raises(KeyError, match="unknown detection"):
        get_detection("nope")


@pytest.mark.parametrize("detection", all_detections(), ids=lambda d: d.id)
@pytest.mark.parametrize(
    "raw",
    [{}, {"vpc_cidrs": ["10.0.0.0/16"], "target_ips": ["10.0.1.10"],
          "indicators": [["194.165.16.0/24", "c2", 80, "feed"], ["2001:db8::/32", "x"]]}],
    ids=["plain", "target-and-indicators"],
)  # fmt: skip
def test_every_detection_renders_for_athena(detection: Detection, raw: dict[str, object]) -> None:
    params = AnalysisParams.from_dict(raw)
    if detection.needs(params) is not None:
        assert detection.id == "threat-intel"
        return
    for columns in (V5_COLUMNS, V5_COLUMNS - {"tcp_flags", "pkt_dst_aws_service"}):
        ctx = Context(lambda sql: [], params, columns)
        queries = detection.sql(ctx)
        assert queries
        for sql in queries:
            rendered = render(sql, "SELECT * FROM flowlogs.t")
            tree = sqlglot.parse_one(rendered, read="trino")
            assert tree is not None and "UHUGEINT" not in rendered.upper()
