"""A finding's identity: detection (or type), actor ("campaign" for one) and single target."""

from __future__ import annotations

from analysis.findings import PORT_SCAN, SSH_BRUTE_FORCE, Finding, finding_identity


def _finding(evidence: dict, detection_id: str = "ssh-brute-force") -> Finding:
    return Finding(
        type=SSH_BRUTE_FORCE, severity=8, title="t", explanation="e", evidence=evidence
    ).stamped(detection_id, (("TA0006", "T1110"),))


def test_peer_and_single_target() -> None:
    finding = _finding({"peer": "203.0.113.50", "targets": ["10.0.0.5"], "target_count": 1})
    assert finding.identity == "ssh-brute-force|203.0.113.50|10.0.0.5"
    assert finding.to_dict()["identity"] == finding.identity


def test_varying_targets_stay_one_finding() -> None:
    one = _finding({"peer": "203.0.113.50", "targets": ["10.0.0.5", "10.0.0.6"], "target_count": 2})
    other = _finding({"peer": "203.0.113.50", "targets": ["10.0.0.7"], "target_count": 9})
    assert one.identity == other.identity == "ssh-brute-force|203.0.113.50|"


def test_campaign_is_keyed_by_its_target_not_its_sources() -> None:
    first = _finding(
        {
            "peer": "198.51.100.1",
            "actors": ["198.51.100.1"],
            "targets": ["10.0.0.9"],
            "target_count": 1,
            "campaign": True,
        }
    )
    later = _finding(
        {
            "peer": "192.0.2.77",
            "actors": ["192.0.2.77", "192.0.2.78"],
            "targets": ["10.0.0.9"],
            "target_count": 1,
            "campaign": True,
        }
    )
    assert first.identity == later.identity == "ssh-brute-force|campaign|10.0.0.9"


def test_summary_without_peer_and_type_without_detection() -> None:
    summary = Finding(
        type=PORT_SCAN,
        severity=2,
        title="noise",
        explanation="",
        evidence={"peer": None, "actors": [], "targets": [], "target_count": 0},
    )
    assert summary.identity == f"{PORT_SCAN}||"
    assert finding_identity("x", {}) == "x||"


def test_identity_differs_by_detection_actor_and_target() -> None:
    base = {"peer": "203.0.113.50", "targets": ["10.0.0.5"], "target_count": 1}
    ids = {
        _finding(base).identity,
        _finding(base, detection_id="rdp-brute-force").identity,
        _finding({**base, "peer": "203.0.113.51"}).identity,
        _finding({**base, "targets": ["10.0.0.6"]}).identity,
    }
    assert len(ids) == 4
