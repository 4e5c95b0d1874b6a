"""Port scans, internal sweeps and fan-out are judged on the most distinct targets (ports,
hosts) inside any window of their `*_window_seconds` (a sliding window counted as presence
intervals), not per tumbling bucket: a burst across a bucket boundary is found whole, while
slow spread (monitoring polling many hosts all day, health checks, a bastion over a day)
stays silent. The same SQL gives the same findings through Athena."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from analysis.analyzers import AnalysisParams
from analysis.analyzers.params import DEFAULT_THRESHOLDS
from analysis.engine import FlowEngine
from analysis.findings import INTERNAL_FAN_OUT, INTERNAL_SWEEP, PORT_SCAN
from analysis.formats import DEFAULT_FORMAT
from tests.analysis.athena.test_pushdown import WriteLog, both_engines

SCAN_WINDOW = int(DEFAULT_THRESHOLDS["portscan_window_seconds"])
SCAN_PORTS = int(DEFAULT_THRESHOLDS["portscan_min_ports"])
SWEEP_WINDOW = int(DEFAULT_THRESHOLDS["sweep_window_seconds"])
SWEEP_HOSTS = int(DEFAULT_THRESHOLDS["sweep_min_hosts"])
FAN_WINDOW = int(DEFAULT_THRESHOLDS["fanout_window_seconds"])
FAN_HOSTS = int(DEFAULT_THRESHOLDS["fanout_min_hosts"])
BOUNDARY = 1_700_002_800  # a multiple of every default window: where tumbling buckets end
SCANNER, SWEEPER, MOVER = "198.51.100.24", "10.0.2.17", "10.0.2.18"
MONITOR, BALANCER, BASTION = "10.0.4.10", "10.0.0.2", "10.0.1.5"


def _line(src: str, dst: str, dport: int, start: int, action: str = "REJECT") -> str:
    return f"2 1 eni-1 {src} {dst} 50000 {dport} 6 1 60 {start} {start + 2} {action} OK"


def _scan(offset: int = 0) -> list[str]:
    """30 ports 20 s apart, 15 in the window before BOUNDARY and 15 after it."""
    return [_line(SCANNER, "10.0.0.5", 1 + n, BOUNDARY - 290 + n * 20 + offset) for n in range(30)]


def _sweep() -> list[str]:
    """40 hosts on Redis 10 s apart, 20 either side of BOUNDARY."""
    return [_line(SWEEPER, f"10.0.7.{n}", 6379, BOUNDARY - 195 + n * 10) for n in range(40)]


def _fan_out() -> list[str]:
    """SMB on 30 hosts a minute apart, 15 in the hour before BOUNDARY and 15 after it."""
    return [_line(MOVER, f"10.0.6.{n}", 445, BOUNDARY - 870 + n * 60) for n in range(30)]


def _per_bucket(lines: list[str], window: int) -> list[int]:
    starts = [int(line.split()[10]) for line in lines]
    return sorted(Counter(start - start % window for start in starts).values())


def _found(lines: list[str], tmp_path: Path, **thresholds: Any) -> list[dict[str, Any]]:
    log = tmp_path / "flows.log"
    log.write_text("\n".join(lines) + "\n")
    with FlowEngine() as engine:
        engine.load_files([str(log)])
        result = engine.run("detections", {"thresholds": thresholds} if thresholds else {})
    wanted = {"port-scan", "internal-sweep", "internal-fan-out"}
    return [f for f in result.findings if f["detection_id"] in wanted]


def test_bursts_across_a_bucket_boundary_are_found_whole(tmp_path: Path) -> None:
    # The premise: no tumbling bucket holds enough distinct targets (the old count missed them).
    assert max(_per_bucket(_scan(), SCAN_WINDOW)) < SCAN_PORTS
    assert max(_per_bucket(_sweep(), SWEEP_WINDOW)) < SWEEP_HOSTS
    assert max(_per_bucket(_fan_out(), FAN_WINDOW)) < FAN_HOSTS
    found = {f["evidence"]["peer"]: f for f in _found([*_scan(), *_sweep(), *_fan_out()], tmp_path)}
    assert {peer: f["type"] for peer, f in found.items()} == {
        SCANNER: PORT_SCAN,
        SWEEPER: INTERNAL_SWEEP,
        MOVER: INTERNAL_FAN_OUT,
    }
    scan = found[SCANNER]
    assert scan["evidence"]["peak_ports_per_window"] == 30
    assert scan["evidence"]["distinct_ports"] == 30
    assert scan["evidence"]["peak_window"] == {
        "first_seen": "2023-11-14T22:55:10+00:00",  # BOUNDARY - 290
        "last_seen": "2023-11-14T23:04:52+00:00",  # BOUNDARY + 290, + 2 s of the flow
    }
    assert "up to 30 inside one 600-second window" in scan["explanation"]
    sweep = found[SWEEPER]["evidence"]
    assert (sweep["peak_hosts_per_window"], sweep["target_count"], sweep["ports"]) == (
        40,
        40,
        [6379],
    )
    fan = found[MOVER]["evidence"]
    assert (fan["peak_hosts_per_window"], fan["target_count"], fan["ports"]) == (30, 30, [445])
    assert fan["peak_window"]["first_seen"] == "2023-11-14T22:45:30+00:00"  # BOUNDARY - 870


def test_distinct_targets_not_attempts_and_the_window_is_its_length(tmp_path: Path) -> None:
    # 24 ports, then a 25th 599 s after the first: inside one 600-second window.
    early = [_line(SCANNER, "10.0.0.5", 1 + n, BOUNDARY + n * 20) for n in range(SCAN_PORTS - 1)]
    [scan] = _found([*early, _line(SCANNER, "10.0.0.5", 99, BOUNDARY + SCAN_WINDOW - 1)], tmp_path)
    assert scan["evidence"]["peak_ports_per_window"] == SCAN_PORTS
    # A second later, no window holds the first and the last: 24 at most.
    assert _found([*early, _line(SCANNER, "10.0.0.5", 99, BOUNDARY + SCAN_WINDOW)], tmp_path) == []
    # The same 10 ports tried 30 times each inside a minute are 10 ports, not 300.
    again = [
        _line(SCANNER, "10.0.0.5", 1 + port, BOUNDARY + n * 2)
        for n in range(30)
        for port in range(10)
    ]
    assert _found(again, tmp_path) == []
    # Half the window splits the burst across a boundary too: too few in any 300 s.
    assert _found(_scan(), tmp_path, portscan_window_seconds=SCAN_WINDOW // 2) == []


def test_slow_spread_stays_silent(tmp_path: Path) -> None:
    day = range(0, 86_400, 300)
    lines = [
        # Monitoring polling 100 hosts on the node exporter port every 5 minutes, all day.
        *(
            _line(MONITOR, f"10.0.6.{n}", 9100, BOUNDARY + t + n, "ACCEPT")
            for t in day
            for n in range(100)
        ),
        # A load balancer's health checks of 40 targets every 30 s, all day.
        *(
            _line(BALANCER, f"10.0.8.{n}", 8080, BOUNDARY + t + n, "ACCEPT")
            for t in range(0, 86_400, 30)
            for n in range(40)
        ),
        # A bastion reaching one host every 5 minutes, 120 hosts over the day: 12 an hour.
        *(
            _line(BASTION, f"10.0.9.{i % 120}", 22, BOUNDARY + i * 300, "ACCEPT")
            for i in range(len(day))
        ),
        # 40 ports of one host over a day, one every half hour.
        *(_line(SCANNER, "10.0.0.5", 1 + n, BOUNDARY + n * 1800) for n in range(40)),
    ]
    assert _found(lines, tmp_path) == []
    # ... though a window of the whole day counts what they reach; the monitoring and the
    # health checks still sweep all day long (routine), the bastion fans out to 120 hosts.
    whole_day = _found(
        lines, tmp_path, portscan_window_seconds=86_400, fanout_window_seconds=86_400
    )
    assert {(f["evidence"]["peer"], f["type"]) for f in whole_day} == {
        (SCANNER, PORT_SCAN),
        (BASTION, INTERNAL_FAN_OUT),
    }


def test_athena_finds_them_as_the_local_engine_does(write_log: WriteLog) -> None:
    lines = [
        *_scan(),
        *_sweep(),
        *_fan_out(),
        *(_line(MONITOR, f"10.0.6.{n}", 9100, BOUNDARY + t + n) for t in range(0, 7200, 300)
          for n in range(40)),
    ]  # fmt: skip
    params = AnalysisParams.from_dict({})
    engines = both_engines(write_log, lines, DEFAULT_FORMAT, None)
    with engines.local:
        local = engines.local.run("detections", params)
    pushed = engines.remote.run("detections", params)
    assert pushed.to_dict() == local.to_dict()
    sent = engines.athena.sent
    assert any("ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW" in sql for sql in sent)
    found = {
        (f["detection_id"], f["evidence"]["peer"])
        for f in pushed.findings
        if f["detection_id"] in {"port-scan", "internal-sweep", "internal-fan-out"}
    }
    assert found == {
        ("port-scan", SCANNER),
        ("internal-sweep", SWEEPER),
        ("internal-fan-out", MOVER),
    }
