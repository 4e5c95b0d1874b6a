"""`make test` provisions the browser: Debian's chromium, else apt-get, else Playwright's own;
with none of them the browser tests are skipped loudly, and CI fails on that skip."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests import browser_setup

ROOT = Path(__file__).resolve().parent.parent


class FakeSystem:
    """Records the commands; apt-get install "installs" the browser when `apt_works`."""

    def __init__(self, browser: Path, *, apt_works: bool, playwright: str) -> None:
        self.browser = browser
        self.apt_works = apt_works
        self.playwright = playwright  # "present", "downloadable" or "none"
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> int:
        self.commands.append(list(command))
        if command[0] == "apt-get":
            if command[1] == "install" and self.apt_works:
                self.browser.write_text("#!/bin/sh\n")
                self.browser.chmod(0o755)
            return 0 if self.apt_works else 100
        if command[1:3] == ["-m", "playwright"]:
            if self.playwright == "downloadable":
                self.playwright = "present"
                return 0
            return 1
        assert command[1] == "-c"  # the launch probe
        return 0 if self.playwright == "present" else 1


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "chromium"
    monkeypatch.setenv("CHROMIUM_PATH", str(path))
    return path


def test_an_installed_chromium_is_used_as_it_is(browser: Path) -> None:
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    fake = FakeSystem(browser, apt_works=True, playwright="none")
    assert browser_setup.provision(fake, apt=True, say=lambda _: None) == str(browser)
    assert fake.commands == []


def test_apt_get_installs_debian_chromium_first(browser: Path) -> None:
    fake = FakeSystem(browser, apt_works=True, playwright="downloadable")
    said: list[str] = []
    assert browser_setup.provision(fake, apt=True, say=said.append) == str(browser)
    assert fake.commands == [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium"],
    ]
    assert said[-1] == f"browser: {browser}"
    assert browser_setup.browser_executable(fake) == str(browser)


def test_without_apt_playwright_downloads_its_own(browser: Path) -> None:
    fake = FakeSystem(browser, apt_works=False, playwright="downloadable")
    assert browser_setup.provision(fake, apt=True, say=lambda _: None) == ""
    assert [sys.executable, "-m", "playwright", "install", "chromium"] in fake.commands
    assert browser_setup.browser_executable(fake) == ""  # Playwright's own, no path given


def test_with_no_way_to_a_browser_it_says_so_loudly(browser: Path) -> None:
    fake = FakeSystem(browser, apt_works=False, playwright="none")
    said: list[str] = []
    assert browser_setup.provision(fake, apt=False, say=said.append) is None
    assert not any(command[0] == "apt-get" for command in fake.commands)
    assert said[-1].startswith("browser: NONE") and "SKIPPED" in said[-1]
    assert browser_setup.browser_executable(fake) is None


BROWSER_TEST = """
import pytest

pytestmark = pytest.mark.browser


def test_needs_a_browser():
    pass


def test_needs_nothing_else():
    pass
"""


@pytest.mark.parametrize("ci", [False, True])
def test_missing_browser_skips_the_browser_tests_loudly_and_fails_ci(
    tmp_path: Path, ci: bool
) -> None:
    """A real pytest run, with the project's conftest, of browser tests with no browser."""
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    (probe / "test_page.py").write_text(BROWSER_TEST)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "CI": "true" if ci else "",
        "CHROMIUM_PATH": str(tmp_path / "no-chromium"),
        # No Playwright download either: its registry points at an empty folder.
        "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "no-playwright-browsers"),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:django",
            "-p",
            "no:xdist",
            "-rs",
            "-c",
            "/dev/null",
            "--rootdir",
            str(tmp_path),
            str(probe),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "2 BROWSER TEST(S) SKIPPED" in result.stdout, result.stdout + result.stderr
    assert "BROWSER TEST SKIPPED: no Chromium to drive" in result.stdout
    assert ("CI=true: the run FAILS" in result.stdout) is ci
    assert result.returncode == (1 if ci else 0), result.stdout
