"""`flowlogs` (analysis.console) needs no Django and no settings; `manage.py analyze` and
`generate_flowlogs` run in an empty environment too, while serving commands still refuse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.console import main

ROOT = Path(__file__).resolve().parents[2]
END = "2026-11-01T12:00:00Z"
# Runs the console in a fresh interpreter and fails if anything imported Django (or, for
# `--help`, DuckDB): prints the modules of concern on stderr as JSON.
PROBE = (
    "import json, sys\n"
    "from analysis.console import main\n"
    "try:\n"
    "    status = main(sys.argv[1:])\n"
    "except SystemExit as stop:\n"
    "    status = stop.code\n"
    "heavy = sorted(m for m in ('django', 'duckdb') if m in sys.modules)\n"
    "sys.stderr.write('\\nMODULES ' + json.dumps(heavy) + '\\n')\n"
    "sys.exit(status)\n"
)


def run_empty(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A command with an empty environment: no SECRET_KEY, DEBUG, DATABASE_URL, not even PATH."""
    return subprocess.run(args, cwd=cwd, env={}, capture_output=True, text=True, timeout=120)


def modules(result: subprocess.CompletedProcess[str]) -> list[str]:
    line = next(line for line in result.stderr.splitlines() if line.startswith("MODULES "))
    return json.loads(line.removeprefix("MODULES "))


def test_flowlogs_generates_and_analyzes_in_an_empty_environment_without_django(
    tmp_path: Path,
) -> None:
    log = tmp_path / "demo.log.gz"
    made = run_empty(
        [
            sys.executable,
            "-c",
            PROBE,
            "generate",
            str(log),
            "--lines",
            "3000",
            "--end",
            END,
            "--manifest",
        ],
        tmp_path,
    )
    assert made.returncode == 0, made.stderr
    manifest = json.loads(made.stdout)
    assert manifest["lines"] == 3000 and log.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    assert modules(made) == []

    analyzed = run_empty(
        [
            sys.executable,
            "-c",
            PROBE,
            "analyze",
            "--log-file",
            str(log),
            "--analysis",
            "detections",
            "--vpc-cidr",
            "10.0.0.0/16",
            "--format",
            "json",
        ],
        tmp_path,
    )
    assert analyzed.returncode == 0, analyzed.stderr
    assert modules(analyzed) == ["duckdb"]  # the engine, and still no Django
    output = json.loads(analyzed.stdout)
    assert output["records"]["total"] == 3000
    types = {finding["type"] for finding in output["results"]["detections"]["findings"]}
    assert "UnauthorizedAccess:EC2/SSHBruteForce" in types
    assert "Recon:EC2/Portscan" in types


def test_help_and_argument_errors_load_neither_django_nor_duckdb(tmp_path: Path) -> None:
    helped = run_empty([sys.executable, "-c", PROBE, "analyze", "--help"], tmp_path)
    assert helped.returncode == 0
    assert "--log-file PATH" in helped.stdout and "--known-hosts CSV" in helped.stdout
    assert modules(helped) == []
    missing = run_empty(
        [
            sys.executable,
            "-c",
            PROBE,
            "analyze",
            "--log-file",
            "nope.log",
            "--analysis",
            "traffic-summary",
        ],
        tmp_path,
    )
    assert missing.returncode == 2
    assert "flowlogs analyze: error: no such log file: nope.log" in missing.stderr


def test_the_installed_script_is_declared_and_runs(tmp_path: Path) -> None:
    assert 'flowlogs = "analysis.console:main"' in (ROOT / "pyproject.toml").read_text()
    script = Path(sys.executable).with_name("flowlogs")
    assert script.exists(), "the flowlogs script is missing: reinstall the project (make install)"
    out = tmp_path / "demo.log"
    made = run_empty([str(script), "generate", str(out), "--lines", "3000", "--end", END], tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"Wrote 3,000 lines to {out} (ssh-bruteforce")


def test_every_analysis_option_reaches_the_analyzers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "demo.log"
    assert main(["generate", str(log), "--lines", "3000", "--end", END]) == 0
    hosts = tmp_path / "hosts.csv"
    hosts.write_text("ip,alias\n10.0.3.30,db-primary\n")
    capsys.readouterr()
    assert (
        main(
            [
                "analyze",
                "--log-file",
                str(log),
                "--format",
                "json",
                "--top",
                "2",
                "--analysis",
                "graph,sensitive-ports,top-talkers,time-series",
                "--rank-by",
                "bytes",
                "--known-hosts",
                str(hosts),
                "--sensitive-port",
                "22=secure-shell",
                "--graph-top-k",
                "3",
                "--graph-min-flows",
                "2",
                "--time-bin",
                "3600",
                "--target-cidr",
                "10.0.1.0/24",
                "--interface",
                "eni-0123abcd",
                "--vpc-cidr",
                "10.0.0.0/16",
                "--internal-cidr",
                "100.64.0.0/10",
            ]
        )
        == 0
    )
    results = json.loads(capsys.readouterr().out)["results"]
    ports = results["sensitive-ports"]["summary"]
    assert ports["sensitive_ports"] == {"22": "secure-shell"}
    assert ports["target"] == {"ips": [], "cidrs": ["10.0.1.0/24"], "interfaces": ["eni-0123abcd"]}
    assert ports["internal_cidrs"] == ["10.0.0.0/16", "100.64.0.0/10"]
    assert {row["service"] for row in results["sensitive-ports"]["rows"]} == {"secure-shell"}
    graph = results["graph"]
    assert graph["summary"] | {"nodes": 0} == {
        "edges": 3,
        "nodes": 0,
        "min_flows": 2,
        "top_k": 3,
        "rank_by": "bytes",
        "pseudonyms": False,
    }
    nodes = {node["ip"]: node for node in graph["tables"][0]["rows"]}
    assert nodes["10.0.3.30"]["alias"] == "db-primary"  # the exfiltrating host, by bytes
    talkers = results["top-talkers"]["rows"]
    assert talkers[0]["ip"] == "10.0.3.30"
    assert talkers[0]["bytes"] >= talkers[1]["bytes"]
    assert results["time-series"]["summary"]["bin_seconds"] == 3600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rank-by", "packets"], "invalid choice: 'packets'"),
        (["--interface", "vpc-1"], "not a network interface id"),
        (["--sensitive-port", "70000"], "port must be between 0 and 65535"),
        (["--known-hosts", "missing.csv"], "cannot read missing.csv"),
        (["--time-bin", "0"], "time_bin_seconds must be at least 1"),
    ],
)
def test_bad_option_values_exit_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    log = tmp_path / "x.log"
    log.write_text("2 1 eni-a 10.0.0.1 10.0.0.2 1 2 6 1 1 1700000000 1700000001 ACCEPT OK\n")
    with pytest.raises(SystemExit) as stop:
        main(["analyze", "--log-file", str(log), "--analysis", "traffic-summary", *args])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_manage_py_offline_commands_run_without_settings_and_serving_ones_refuse(
    tmp_path: Path,
) -> None:
    manage = [sys.executable, str(ROOT / "manage.py")]
    log = tmp_path / "demo.log"
    made = run_empty(
        [*manage, "generate_flowlogs", str(log), "--lines", "3000", "--end", END], tmp_path
    )
    assert made.returncode == 0, made.stderr
    analyzed = run_empty(
        [
            *manage,
            "analyze",
            "--log-file",
            str(log),
            "--analysis",
            "ssh-inbound",
            "--format",
            "json",
        ],
        tmp_path,
    )
    assert analyzed.returncode == 0, analyzed.stderr
    rows = json.loads(analyzed.stdout)["results"]["ssh-inbound"]["rows"]
    assert "203.0.113.50" in {row["srcaddr"] for row in rows}  # the planted brute force
    refused = run_empty([*manage, "check"], tmp_path)
    assert refused.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in refused.stderr


def test_manage_py_analyze_starts_without_loading_django(tmp_path: Path) -> None:
    """`manage.py analyze` and `generate_flowlogs` go straight to the console: a settings module
    that does not exist cannot stop them, and the usage names the command as typed."""
    manage = [sys.executable, "-X", "importtime", str(ROOT / "manage.py")]
    env = {"DJANGO_SETTINGS_MODULE": "no_such_settings"}
    helped = subprocess.run(
        [*manage, "analyze", "--help"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: manage.py analyze [-h] --log-file PATH")
    imported = {line.split("|")[-1].strip() for line in helped.stderr.splitlines()}
    assert not {"django", "duckdb"} & imported
    wrong = subprocess.run(
        [*manage, "generate_flowlogs", str(tmp_path / "x.log"), "--end", "not a time"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert wrong.returncode == 2
    assert "manage.py generate_flowlogs: error:" in wrong.stderr


@pytest.mark.parametrize(
    ("argv", "offline"),
    [
        (["/srv/portal/manage.py", "analyze"], True),
        (["manage.py", "generate_flowlogs"], True),
        (["/usr/bin/django-admin", "analyze"], True),
        (["manage.py", "runserver"], False),
        (["manage.py", "migrate"], False),
        (["manage.py"], False),
        (["/usr/bin/gunicorn", "analyze"], False),
        (["/usr/bin/celery", "generate_flowlogs"], False),
        (["-c", "analyze"], False),
    ],
)
def test_only_the_offline_commands_may_start_without_a_secret_key(
    argv: list[str], offline: bool
) -> None:
    from portal.settings import _offline_command

    assert _offline_command(argv) is offline
