"""Brute force is judged on the peak number of attempts inside any window of
`bruteforce_window_seconds` (a sliding window), not per tumbling bucket: a burst across a
bucket boundary is not split in two and missed, and logins spread over a day stay silent.
The same SQL gives the same findings through Athena (Trino SQL translated back by sqlglot)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from analysis.analyzers import AnalysisParams
from analysis.analyzers.params import DEFAULT_THRESHOLDS
from analysis.engine import FlowEngine
from analysis.findings import SSH_BRUTE_FORCE
from analysis.formats import DEFAULT_FORMAT
from tests.analysis.athena.test_pushdown import WriteLog, both_engines

WINDOW = int(DEFAULT_THRESHOLDS["bruteforce_window_seconds"])
MIN_ATTEMPTS = int(DEFAULT_THRESHOLDS["bruteforce_min_attempts"])
BOUNDARY = 1_700_000_400  # a multiple of the default window: where a tumbling bucket ends
ATTACKER, BASTION_ADMIN, HOST = "203.0.113.7", "198.51.100.11", "10.0.0.5"


def _attempt(src: str, n: int, start: int, packets: int = 12) -> str:
    return (
        f"2 1 eni-1 {src} {HOST} {40000 + n} 22 6 {packets} {packets * 60} {start} "
        f"{start + 2} REJECT OK"
    )


def _burst() -> list[str]:
    """30 attempts 20 s apart, 15 in the 10 minutes before BOUNDARY and 15 after it."""
    return [_attempt(ATTACKER, n, BOUNDARY - 290 + n * 20) for n in range(30)]


def _starts(lines: list[str]) -> list[int]:
    return [int(line.split()[10]) for line in lines]


def _brute_force(lines: list[str], tmp_path: Path, **thresholds: Any) -> list[dict[str, Any]]:
    log = tmp_path / "flows.log"
    log.write_text("\n".join(lines) + "\n")
    with FlowEngine() as engine:
        engine.load_files([str(log)])
        result = engine.run("detections", {"thresholds": thresholds} if thresholds else {})
    return [f for f in result.findings if f["detection_id"] == "ssh-brute-force"]


def test_a_burst_across_a_bucket_boundary_is_one_brute_force(tmp_path: Path) -> None:
    lines = _burst()
    # The premise: no tumbling bucket holds enough attempts (the old count missed it).
    per_bucket = Counter(start - start % WINDOW for start in _starts(lines))
    assert sorted(per_bucket.values()) == [15, 15] and max(per_bucket.values()) < MIN_ATTEMPTS
    [finding] = _brute_force(lines, tmp_path)
    assert finding["type"] == SSH_BRUTE_FORCE
    assert finding["evidence"]["peer"] == ATTACKER
    assert finding["evidence"]["flows"] == 30
    assert finding["evidence"]["peak_per_window"] == 30
    assert "up to 30 in one window" in finding["explanation"]


def test_the_window_is_its_configured_length(tmp_path: Path) -> None:
    # Half the window holds at most 15 of the burst's attempts: too few.
    assert _brute_force(_burst(), tmp_path, bruteforce_window_seconds=WINDOW // 2) == []
    # 20 attempts inside 600 s (first to last 599 s) are a brute force; with the last one
    # a second later no window of 600 s holds 20 of them.
    early = [_attempt(ATTACKER, n, BOUNDARY + n * 30) for n in range(MIN_ATTEMPTS - 1)]
    [finding] = _brute_force([*early, _attempt(ATTACKER, 99, BOUNDARY + WINDOW - 1)], tmp_path)
    assert finding["evidence"]["peak_per_window"] == MIN_ATTEMPTS
    assert _brute_force([*early, _attempt(ATTACKER, 99, BOUNDARY + WINDOW)], tmp_path) == []


def test_logins_spread_over_a_day_are_no_brute_force(tmp_path: Path) -> None:
    # A bastion's admin: a short login every 40 s all working day (720 of them, 15 in any
    # 10 minutes), and 71 logins over a day from another admin.
    working_day = [_attempt(BASTION_ADMIN, n, BOUNDARY + n * 40, packets=30) for n in range(720)]
    day = [_attempt("198.51.100.10", n, BOUNDARY + n * 1200, packets=30) for n in range(71)]
    assert _brute_force([*working_day, *day], tmp_path) == []
    # ... though counted over the whole day they are far more than the threshold.
    one_day = _brute_force([*working_day, *day], tmp_path, bruteforce_window_seconds=86400)
    assert {f["evidence"]["peer"] for f in one_day} == {BASTION_ADMIN, "198.51.100.10"}


def test_athena_finds_the_burst_as_the_local_engine_does(write_log: WriteLog) -> None:
    lines = [*_burst(), *(_attempt(BASTION_ADMIN, n, BOUNDARY + n * 40) for n in range(50))]
    params = AnalysisParams.from_dict({})
    engines = both_engines(write_log, lines, DEFAULT_FORMAT, None)
    with engines.local:
        local = engines.local.run("detections", params)
    pushed = engines.remote.run("detections", params)
    assert pushed.to_dict() == local.to_dict()
    assert any("RANGE BETWEEN CURRENT ROW AND 599 FOLLOWING" in sql for sql in engines.athena.sent)
    found = [f for f in pushed.findings if f["detection_id"] == "ssh-brute-force"]
    assert [(f["evidence"]["peer"], f["evidence"]["peak_per_window"]) for f in found] == [
        (ATTACKER, 30)
    ]
