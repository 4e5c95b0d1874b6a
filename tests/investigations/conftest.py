"""Fixtures shared by the investigation tests."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

import pytest

from analysis.demo import generate


@pytest.fixture(scope="session")
def big_log(tmp_path_factory: Any) -> Path:
    """A million generated flow lines (about 110 MB): three copies of it take the worker
    several seconds, time to pull the rug. Generated once for the whole run, in the folder
    every parallel test process shares, under a lock so the first one writes it and the
    others wait, then read the finished file."""
    root = tmp_path_factory.getbasetemp()
    shared = root.parent if root.name.startswith("popen-gw") else root  # xdist's common folder
    path = shared / "big-1000000-seed-11.log"
    with (shared / "big-log.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not path.exists():
                partial = path.with_suffix(f".{id(lock)}.partial")
                generate(str(partial), lines=1_000_000, seed=11)
                partial.replace(path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path
