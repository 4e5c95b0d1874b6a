"""Unusual outbound volume spares recurring destinations: a peer a host reached on
`exfil_recurring_days` distinct days of the window (no day far above its others), or in
earlier runs of the investigation (`recurring_pairs`), is expected traffic, named in the
run's summary (`recurring_left_out`), never silently dropped; a new destination, or a jump
far above the host's own history with its usual partner, is still a finding. The same SQL
gives the same result through Athena."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlglot

from analysis.analyzers import AnalysisParams
from analysis.athena.render import render
from analysis.detections.base import Context
from analysis.detections.exfiltration import candidates_sql
from analysis.engine import FlowEngine
from analysis.findings import UNUSUAL_OUTBOUND_VOLUME
from analysis.formats import DEFAULT_FORMAT
from tests.analysis.athena.test_pushdown import WriteLog, both_engines

NIGHT = 1_700_006_400  # 2023-11-15T00:00:00Z
DAY = 86_400
REPORTS, PARTNER = "10.0.2.30", "93.184.216.34"
THIEF, DROP = "10.0.2.12", "185.220.101.7"


def _line(src: str, dst: str, sport: int, size: int, start: int) -> str:
    return (
        f"2 1 eni-1 {src} {dst} {sport} 443 6 {max(size // 1400, 1)} {size} {start} "
        f"{start + 60} ACCEPT OK"
    )


def _peers() -> list[str]:
    """Ten ordinary outside peers with a few dozen kB each: the baseline."""
    return [
        _line("10.0.2.20", f"52.94.{n}.1", 40000 + n, 50_000 + n * 1000, NIGHT + n)
        for n in range(10)
    ]


def _nightly(days: int, size: int = 300_000_000) -> list[str]:
    """REPORTS sending 4 x `size` bytes to PARTNER at 01:00 each night for `days` days."""
    return [
        _line(REPORTS, PARTNER, 41000 + n, size, NIGHT + 3600 + day * DAY + n * 240)
        for day in range(days)
        for n in range(4)
    ]


def _exfiltration() -> list[str]:
    """6 GB from THIEF to a destination never seen before, on the last night."""
    return [
        _line(THIEF, DROP, 42000 + n, 500_000_000, NIGHT + 6 * DAY + n * 300) for n in range(12)
    ]


def _run(lines: list[str], tmp_path: Path, **params: Any) -> tuple[list[dict[str, Any]], dict]:
    log = tmp_path / "flows.log"
    log.write_text("\n".join(lines) + "\n")
    with FlowEngine() as engine:
        engine.load_files([str(log)])
        result = engine.run("detections", params)
    found = [f for f in result.findings if f["detection_id"] == "unusual-outbound-volume"]
    return found, result.summary


def test_a_nightly_transfer_to_a_partner_is_recurring_and_said_so(tmp_path: Path) -> None:
    found, summary = _run([*_peers(), *_nightly(7), *_exfiltration()], tmp_path)
    # The real exfiltration is still found; the partner is not a finding ...
    assert [(f["type"], f["evidence"]["peer"]) for f in found] == [(UNUSUAL_OUTBOUND_VOLUME, DROP)]
    assert "recurring destinations left out" in found[0]["explanation"]
    # ... but named in the summary, with its host, bytes and days.
    assert summary["recurring_left_out"] == [
        {
            "title": f"8,400,000,000 bytes sent to {PARTNER}, a recurring destination",
            "detection_id": "unusual-outbound-volume",
            "peer": PARTNER,
            "hosts": [REPORTS],
            "bytes": 8_400_000_000,
            "days": 7,
            "seen_in_earlier_runs": False,
        }
    ]


def test_the_premise_without_recurrence_the_partner_is_flagged(tmp_path: Path) -> None:
    # Asking for more days than the window has: nothing recurs, the partner stands out too.
    found, summary = _run(
        [*_peers(), *_nightly(7), *_exfiltration()],
        tmp_path,
        thresholds={"exfil_recurring_days": 8},
    )
    assert {f["evidence"]["peer"] for f in found} == {DROP, PARTNER}
    assert "recurring_left_out" not in summary
    # Two nights are not enough at the default (3 days); three are.
    found, _ = _run([*_peers(), *_nightly(2, 600_000_000)], tmp_path)
    assert [f["evidence"]["peer"] for f in found] == [PARTNER]
    found, summary = _run([*_peers(), *_nightly(3, 400_000_000)], tmp_path)
    assert found == [] and summary["recurring_left_out"][0]["days"] == 3


def test_a_jump_above_the_hosts_own_history_is_unusual_again(tmp_path: Path) -> None:
    # 100 MB a night for six nights, then 6 GB: 60 times its usual night.
    jump = [_line(REPORTS, PARTNER, 43000 + n, 500_000_000, NIGHT + 6 * DAY + 7200 + n * 300)
            for n in range(12)]  # fmt: skip
    found, summary = _run([*_peers(), *_nightly(6, 25_000_000), *jump], tmp_path)
    assert [f["evidence"]["peer"] for f in found] == [PARTNER]
    assert "recurring_left_out" not in summary
    # A looser limit on the jump takes it for the partner's usual traffic.
    found, _ = _run(
        [*_peers(), *_nightly(6, 25_000_000), *jump],
        tmp_path,
        thresholds={"exfil_recurring_max_ratio": 100},
    )
    assert found == []


def test_pairs_seen_in_earlier_runs_are_recurring(tmp_path: Path) -> None:
    lines = [*_peers(), *_exfiltration()]
    found, _ = _run(lines, tmp_path)
    assert [f["evidence"]["peer"] for f in found] == [DROP]
    found, summary = _run(lines, tmp_path, recurring_pairs=[[THIEF, DROP]])
    assert found == []
    [left_out] = summary["recurring_left_out"]
    assert (left_out["peer"], left_out["seen_in_earlier_runs"], left_out["days"]) == (
        DROP,
        True,
        1,
    )
    # Only that host's pair: another host sending the same to that peer is new.
    found, _ = _run(lines, tmp_path, recurring_pairs=[["10.0.2.99", DROP]])
    assert [f["evidence"]["peer"] for f in found] == [DROP]


def test_recurring_pairs_are_checked_addresses() -> None:
    params = AnalysisParams.from_dict({"recurring_pairs": [["10.0.2.12", "185.220.101.7"]] * 2})
    assert params.recurring_pairs == [("10.0.2.12", "185.220.101.7")]
    assert AnalysisParams.from_dict(params.to_dict()) == params
    with pytest.raises(ValueError, match="not an IP address"):
        AnalysisParams.from_dict({"recurring_pairs": [["10.0.2.12", "nope"]]})
    with pytest.raises(ValueError, match="rows are"):
        AnalysisParams.from_dict({"recurring_pairs": [["10.0.2.12"]]})


def test_athena_spares_them_as_the_local_engine_does(write_log: WriteLog) -> None:
    lines = [*_peers(), *_nightly(7), *_exfiltration()]
    for raw in ({}, {"recurring_pairs": [[THIEF, DROP]]}):
        params = AnalysisParams.from_dict(raw)
        engines = both_engines(write_log, lines, DEFAULT_FORMAT, None)
        with engines.local:
            local = engines.local.run("detections", params)
        pushed = engines.remote.run("detections", params)
        assert pushed.to_dict() == local.to_dict()
        peers = {entry["peer"] for entry in pushed.summary["recurring_left_out"]}
        assert peers == ({PARTNER, DROP} if raw else {PARTNER})


def test_the_candidates_query_with_earlier_pairs_renders_for_athena() -> None:
    params = AnalysisParams.from_dict(
        {"recurring_pairs": [[THIEF, DROP], ["10.0.2.13", "2001:db8::7"]]}
    )
    ctx = Context(lambda sql: [], params, {"src_ip", "dst_ip", "srcport", "dstport", "protocol",
                                           "packets", "bytes", "start", "end", "action",
                                           "start_ts", "end_ts"})  # fmt: skip
    rendered = render(candidates_sql(ctx, 1e8), "SELECT * FROM flowlogs.t")
    assert sqlglot.parse_one(rendered, read="trino") is not None
    assert "UHUGEINT" not in rendered.upper() and "AS pairs(src_ip, dst_ip)" in rendered


def test_a_run_records_its_pairs_for_the_next_window(tmp_path: Path) -> None:
    # Monday's window: the partner's first night is new, so flagged, and its pair recorded ...
    found, monday = _run([*_peers(), *_nightly(1, 1_500_000_000)], tmp_path)
    assert [f["evidence"]["peer"] for f in found] == [PARTNER]
    assert monday["outbound_pairs"] == [[REPORTS, PARTNER]]
    # ... Tuesday's window, given Monday's pairs, takes the partner as recurring; the
    # exfiltration to a new destination that night is still a finding.
    tuesday = [*_peers(), *_nightly(1, 1_500_000_000), *_exfiltration()]
    found, summary = _run(tuesday, tmp_path, recurring_pairs=monday["outbound_pairs"])
    assert [f["evidence"]["peer"] for f in found] == [DROP]
    assert [(e["peer"], e["seen_in_earlier_runs"]) for e in summary["recurring_left_out"]] == [
        (PARTNER, True)
    ]
    assert sorted(summary["outbound_pairs"]) == [[THIEF, DROP], [REPORTS, PARTNER]]
