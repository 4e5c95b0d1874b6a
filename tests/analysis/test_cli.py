"""The command line contract: `python -m analysis` and `manage.py analyze`."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from analysis.cli import main
from analysis.formats import DEFAULT_FORMAT

WriteLog = Callable[..., str]  # the write_log fixture of conftest.py
ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def flow(src: str, dst: str, dport: int, proto: int, size: int, start: int, action: str) -> str:
    return (
        f"2 111122223333 eni-aaa {src} {dst} 40000 {dport} {proto} 2 {size} "
        f"{T0 + start} {T0 + start + 10} {action} OK"
    )


LINES = [
    " ".join(DEFAULT_FORMAT.names),
    flow("203.0.113.50", "10.0.1.10", 22, 6, 600, 0, "REJECT"),
    flow("203.0.113.50", "10.0.1.10", 22, 6, 700, 20, "REJECT"),
    flow("198.51.100.7", "10.0.1.10", 22, 6, 9000, 40, "ACCEPT"),
    flow("198.51.100.7", "10.0.1.11", 53, 17, 80, 60, "ACCEPT"),
    "junk",
    f"2 111122223333 eni-aaa - - - - - - - {T0} {T0 + 60} - NODATA",
    f"2 111122223333 eni-aaa - - - - - - - {T0} {T0 + 60} - SKIPDATA",
]


@pytest.fixture
def log(write_log: WriteLog) -> str:
    return write_log(LINES, name="small.log")


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_output_is_one_object_of_records_and_results(
    log: str, capsys: pytest.CaptureFixture[str]
) -> None:
    output = run_json(
        capsys,
        "--log-file",
        log,
        "--analysis",
        "traffic-summary,ssh-inbound",
        "--instance-ip",
        "10.0.1.10",
    )
    records = output["records"]
    assert {key: records[key] for key in ("total", "ok", "nodata", "skipdata", "malformed")} == {
        "total": 7,
        "ok": 4,
        "nodata": 1,
        "skipdata": 1,
        "malformed": 1,
    }
    assert records["malformed_samples"][0]["line"] == 6
    assert list(output["results"]) == ["traffic-summary", "ssh-inbound"]
    assert output["results"]["traffic-summary"]["rows"] == [
        {"protocol": "tcp", "action": "REJECT", "flows": 2, "packets": 4, "bytes": 1300},
        {"protocol": "tcp", "action": "ACCEPT", "flows": 1, "packets": 2, "bytes": 9000},
        {"protocol": "udp", "action": "ACCEPT", "flows": 1, "packets": 2, "bytes": 80},
    ]
    assert output["results"]["ssh-inbound"]["rows"] == [
        {
            "srcaddr": "203.0.113.50",
            "action": "REJECT",
            "flows": 2,
            "packets": 4,
            "bytes": 1300,
            "first_seen": "2023-11-14T22:13:20+00:00",
            "last_seen": "2023-11-14T22:13:50+00:00",
        },
        {
            "srcaddr": "198.51.100.7",
            "action": "ACCEPT",
            "flows": 1,
            "packets": 2,
            "bytes": 9000,
            "first_seen": "2023-11-14T22:14:00+00:00",
            "last_seen": "2023-11-14T22:14:10+00:00",
        },
    ]


def test_all_runs_every_analysis_the_logs_allow(
    log: str, capsys: pytest.CaptureFixture[str]
) -> None:
    output = run_json(capsys, "--log-file", log, "--analysis", "all")
    assert {"traffic-summary", "ssh-inbound"} <= set(output["results"])
    # Whatever was left out says why (e.g. an analysis that needs a port or a target).
    assert all(isinstance(reason, str) and reason for reason in output["skipped"].values())


def test_the_time_window_and_a_repeated_log_file(
    log: str, capsys: pytest.CaptureFixture[str]
) -> None:
    output = run_json(
        capsys,
        "--log-file",
        log,
        "--log-file",
        log,
        "--analysis",
        "traffic-summary",
        "--start-time",
        str(T0 + 35),
        "--end-time",
        "2023-11-14T22:14:05Z",
    )
    # The window is [35 s, 45 s]: per file only the flow of 40..50 s overlaps it (and the
    # NODATA/SKIPDATA records of 0..60 s); the flows of 0..10, 20..30 and 60..70 s do not.
    records = output["records"]
    assert (records["total"], records["ok"], records["filtered_out"]) == (14, 2, 6)
    assert output["results"]["traffic-summary"]["rows"] == [
        {"protocol": "tcp", "action": "ACCEPT", "flows": 2, "packets": 4, "bytes": 18000}
    ]


def test_csv_prints_one_block_per_analysis(log: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--log-file", log, "--analysis", "traffic-summary,ssh-inbound", "--format", "csv"]
    assert main(args) == 0
    blocks = capsys.readouterr().out.strip().split("\n\n")
    assert [block.splitlines()[0] for block in blocks] == ["# traffic-summary", "# ssh-inbound"]
    rows = list(csv.DictReader(io.StringIO(blocks[0].split("\n", 1)[1])))
    assert rows[0] == {
        "protocol": "tcp",
        "action": "REJECT",
        "flows": "2",
        "packets": "4",
        "bytes": "1300",
    }


def test_table_output_says_how_many_groups_it_shows(
    log: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--log-file", log, "--analysis", "traffic-summary", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "records: 7 lines: 4 ok, 1 nodata, 1 skipdata, 1 malformed" in out
    assert "3 groups, showing top 2" in out
    assert "protocol  action  flows  packets  bytes" in out


def test_reference_tables_reach_the_analyzers(
    log: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lookup = tmp_path / "ports.csv"
    lookup.write_text("dstport,protocol,tag\n22,tcp,ssh\n53,udp,dns\n")
    output = run_json(
        capsys, "--log-file", log, "--analysis", "tag-mapping", "--lookup-table", str(lookup)
    )
    rows = output["results"]["tag-mapping"]["rows"]
    assert {row["tag"]: row["count"] for row in rows} == {"ssh": 3, "dns": 1}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--analysis", "nope"], "unknown analysis 'nope'"),
        (["--analysis", "all", "--instance-ip", "10.0.0.300"], "not an IP address"),
        (["--analysis", "all", "--vpc-cidr", "10.0.0.1/16"], "not a CIDR block"),
        (["--analysis", "all", "--start-time", "yesterday"], "cannot read time"),
        (["--analysis", "all", "--start-time", "1h", "--end-time", "2h"], "is after its end"),
        (["--analysis", "all", "--port", "70000"], "port must be between"),
        (["--analysis", "all", "--lookup-table", "/nonexistent.csv"], "cannot read"),
        (["--analysis", "all", "--format", "xml"], "invalid choice"),
        (["--analysis", "all", "--log-format", "${srcaddr} bogus"], "bad LogFormat token"),
    ],
)
def test_bad_arguments_exit_with_status_2(
    log: str, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--log-file", log, *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_missing_log_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--log-file", "/nonexistent/flows.log", "--analysis", "all"])
    assert exit_info.value.code == 2
    assert "no such log file" in capsys.readouterr().err


def test_manage_py_analyze_needs_no_database(log: str) -> None:
    env = dict(os.environ)
    env.update(
        {
            "DEBUG": "true",
            "DATABASE_URL": "sqlite:////nonexistent/dir/x.sqlite3",
            "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        }
    )
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "analyze",
            "--log-file",
            log,
            "--analysis",
            "ssh-inbound",
            "--format",
            "json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    assert output["records"]["ok"] == 4
    assert output["results"]["ssh-inbound"]["rows"][0]["srcaddr"] == "203.0.113.50"

    bad = subprocess.run(
        [sys.executable, "manage.py", "analyze", "--log-file", log, "--analysis", "nope"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert "unknown analysis" in bad.stderr


def test_running_out_of_storage_exits_1_with_the_reason(
    log: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from analysis.engine import EngineStorageError, FlowEngine

    def out_of_space(*args: object, **kwargs: object) -> None:
        raise EngineStorageError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FlowEngine, "load_files", out_of_space)
    assert main(["--log-file", log, "--analysis", "all"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().endswith("cannot load the flow logs: No space left on device")
    assert captured.out == ""
