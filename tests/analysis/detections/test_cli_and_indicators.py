"""The command line's detection options, and indicator lists in every supported form."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from analysis.cli import main, print_detections
from analysis.detections import all_detections
from analysis.reference import ReferenceTableError, parse_indicators

LINES = "\n".join(
    [f"2 1 eni-1 198.51.100.23 10.0.0.5 50000 {port} 6 1 44 {1_700_000_000 + port} "
     f"{1_700_000_001 + port} REJECT OK" for port in range(1, 41)]
    + ["2 1 eni-1 10.0.2.17 194.165.16.11 44000 443 6 40 6000 1700000000 1700000030 ACCEPT OK"]
) + "\n"  # fmt: skip


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)["results"]["detections"]
    return list(result["findings"])


def test_list_detections_prints_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--list-detections"])  # no log file needed, as with --help
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for detection in all_detections():
        assert f"{detection.id}  {detection.type}" in text
    assert "--threshold portscan_min_ports=25" in text and "T1110.001" in text
    out = io.StringIO()
    print_detections(out)
    assert out.getvalue() == text


def test_thresholds_and_indicator_lists_reach_the_detections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "flows.log"
    log.write_text(LINES)
    listed = tmp_path / "c2.txt"
    listed.write_text("# a plain list\n194.165.16.0/24\n")
    base = ["--log-file", str(log), "--analysis", "detections", "--format", "json"]
    types = {f["type"] for f in run_cli(base, capsys)}
    assert "Recon:EC2/Portscan" in types
    assert "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom" not in types
    found = run_cli([*base, "--threshold", "portscan_min_ports=41",
                     "--indicator-list", str(listed)], capsys)  # fmt: skip
    assert {f["type"] for f in found} == {"UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"}
    assert found[0]["evidence"]["indicator"] == "c2" and found[0]["severity"] == 8


@pytest.mark.parametrize("bad", ["portscan_min_ports", "nope=3", "portscan_min_ports=x"])
def test_a_bad_threshold_is_an_argument_error(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "flows.log"
    log.write_text(LINES)
    with pytest.raises(SystemExit) as exit_:
        main(["--log-file", str(log), "--analysis", "detections", "--threshold", bad])
    assert exit_.value.code == 2
    assert "threshold" in capsys.readouterr().err


def test_indicator_csv_with_confidence_and_source() -> None:
    rows = parse_indicators("ip,label,confidence,source\n203.0.113.7,c2,90,feed\n"
                            "198.51.100.0/24,scanners\n2001:db8::1,v6\n")  # fmt: skip
    assert rows == [("203.0.113.7/32", "c2", 90.0, "feed"),
                    ("198.51.100.0/24", "scanners", None, ""),
                    ("2001:db8::1/128", "v6", None, "")]  # fmt: skip


def test_indicator_plain_list_takes_the_lists_name() -> None:
    rows = parse_indicators("# tor exits\n185.220.101.7\n\n185.220.100.0/22 # more\n", name="tor")
    assert rows == [("185.220.101.7/32", "tor", None, ""), ("185.220.100.0/22", "tor", None, "")]


def test_indicator_stix_bundle() -> None:
    bundle = {"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "indicator", "name": "C2 server", "confidence": 80,
         "pattern": "[ipv4-addr:value = '194.165.16.11'] OR [ipv6-addr:value = '2001:db8::/64']",
         "created_by_ref": "identity--x"},
        {"type": "indicator", "name": "a domain", "pattern": "[domain-name:value = 'x.test']"},
        {"type": "malware", "name": "ignored"},
    ]}  # fmt: skip
    assert parse_indicators(json.dumps(bundle)) == [
        ("194.165.16.11/32", "C2 server", 80.0, "identity--x"),
        ("2001:db8::/64", "C2 server", 80.0, "identity--x"),
    ]


def test_indicator_misp_csv_export() -> None:
    text = (
        "uuid,event_id,category,type,value,comment,to_ids,date\n"
        "a,42,Network activity,ip-dst,194.165.16.11,C2 beacon,1,1700000000\n"
        "b,42,Network activity,ip-src|port,203.0.113.9|4444,,1,1700000000\n"
        "c,42,Network activity,domain,x.test,,1,1700000000\n"
    )
    assert parse_indicators(text) == [
        ("194.165.16.11/32", "C2 beacon", None, "MISP event 42"),
        ("203.0.113.9/32", "Network activity", None, "MISP event 42"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [("not-an-ip,label\n", "line 1: not an address"), ("# nothing\n", "no address indicators"),
     ('{"type": "x"}', "must be a bundle"), ("1.2.3.4,l,high\n", "confidence must be")],
)  # fmt: skip
def test_bad_indicator_files_say_why(text: str, message: str) -> None:
    with pytest.raises(ReferenceTableError, match=message):
        parse_indicators(text)
