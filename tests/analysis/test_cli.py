"""`python -m analysis`: load files and print results."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from analysis.cli import main

WriteLog = Callable[..., str]  # the write_log fixture of conftest.py

LINE = "2 1 eni-1 192.0.2.1 10.0.0.5 40000 22 6 3 180 1700000000 1700000010 REJECT OK"


def test_it_prints_json_results(write_log: WriteLog, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_log([LINE, LINE, "junk"])
    assert main([path, "--json", "-a", "ssh-inbound", "--target", "10.0.0.5"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["load"]["ok"] == 2 and output["load"]["malformed"] == 1
    assert output["results"][0]["rows"][0]["srcaddr"] == "192.0.2.1"
    assert output["results"][0]["rows"][0]["flows"] == 2


def test_it_rejects_a_bad_target(write_log: WriteLog, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([write_log([LINE]), "--target", "10.0.0.999"]) == 2
    assert "not an IP address" in capsys.readouterr().err
