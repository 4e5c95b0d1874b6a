"""Suppression rules: matching findings are counted and named apart, never silently gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.analyzers import AnalysisParams
from analysis.engine import FlowEngine

SCAN = "\n".join(
    f"2 1 eni-1 10.0.4.20 10.0.6.{n % 5 + 1} 50000 {port} 6 1 44 {1_700_000_000 + port} "
    f"{1_700_000_001 + port} REJECT OK" for n, port in enumerate(range(1, 41))
) + "\n"  # fmt: skip


def test_an_authorised_scanner_is_suppressed_and_said_so(tmp_path: Path) -> None:
    log = tmp_path / "scan.log"
    log.write_text(SCAN)
    with FlowEngine() as engine:
        engine.load_files([str(log)])
        plain = engine.run("detections", {})
        rule = {"detection": "port-scan", "actor": "10.0.4.20/32", "reason": "authorised scanner"}
        quiet = engine.run("detections", {"suppressions": [rule]})
        other = engine.run("detections", {"suppressions": [{**rule, "actor": "10.9.0.0/16"}]})
    assert [f["detection_id"] for f in plain.findings] == ["port-scan"]
    assert quiet.findings == [] and quiet.rows == []
    assert quiet.summary["suppressed"] == [
        {"reason": "authorised scanner", "count": 1, "findings": [plain.findings[0]["title"]]}
    ]
    assert other.findings == plain.findings and other.summary["suppressed"] == []


@pytest.mark.parametrize(
    ("rule", "message"),
    [({"actor": "10.0.0.0/8"}, "needs a reason"), ({"reason": "x"}, "actor or a target"),
     ({"reason": "x", "actor": "not-a-cidr"}, "not-a-cidr")],
)  # fmt: skip
def test_bad_rules_are_refused(rule: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnalysisParams.from_dict({"suppressions": [rule]})
