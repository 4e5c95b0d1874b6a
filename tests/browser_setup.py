"""The browser the browser tests drive, provisioned by `make test` as `make demo` provisions the
rest: `python -m tests.browser_setup` before the suite.

In order: Debian's Chromium (`CHROMIUM_PATH`, default /usr/bin/chromium) when it is there; else
`apt-get install chromium` when we are root and have apt-get; else Playwright's own Chromium
download (`playwright install chromium`). Where none of them works, the browser tests are
skipped with a loud line in the test summary, and a CI run (`CI=true`) fails on that skip
(tests/conftest.py). This module prints what it did and always exits 0: pytest reports the rest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence

DEBIAN_CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Launches Playwright's own Chromium once and closes it: proof that the download and the
# system libraries it needs are both there.
_PLAYWRIGHT_PROBE = (
    "from playwright.sync_api import sync_playwright\n"
    "try:\n"
    "    with sync_playwright() as p:\n"
    f"        p.chromium.launch(args={LAUNCH_ARGS!r}).close()\n"
    "except Exception:\n"
    "    raise SystemExit(1) from None\n"
)

Runner = Callable[[Sequence[str]], int]


def debian_chromium() -> str:
    return os.environ.get("CHROMIUM_PATH") or DEBIAN_CHROMIUM


def _run(command: Sequence[str]) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        return subprocess.run(command, env=env, check=False, timeout=900).returncode
    except (OSError, subprocess.TimeoutExpired):
        return 1


def playwright_chromium_works(run: Runner = _run) -> bool:
    return run([sys.executable, "-c", _PLAYWRIGHT_PROBE]) == 0


def browser_executable(run: Runner = _run) -> str | None:
    """The executable the tests launch: a path, "" for Playwright's own, None for no browser."""
    if os.access(debian_chromium(), os.X_OK):
        return debian_chromium()
    if playwright_chromium_works(run):
        return ""
    return None


def can_use_apt() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def provision(
    run: Runner = _run, *, apt: bool | None = None, say: Callable[[str], None] = print
) -> str | None:
    """Make a browser available if none is; the executable as browser_executable() says."""
    if os.access(debian_chromium(), os.X_OK):
        say(f"browser: {debian_chromium()}")
        return debian_chromium()
    if apt is None:
        apt = can_use_apt() and debian_chromium() == DEBIAN_CHROMIUM
    if apt:
        say("browser: installing Debian's chromium (apt-get, about a minute)")
        if (
            run(["apt-get", "update", "-qq"]) == 0
            and run(["apt-get", "install", "-y", "-qq", "chromium"]) == 0
            and os.access(debian_chromium(), os.X_OK)
        ):
            say(f"browser: {debian_chromium()}")
            return debian_chromium()
        say("browser: apt-get could not install chromium")
    if playwright_chromium_works(run):
        say("browser: Playwright's own Chromium")
        return ""
    say("browser: downloading Playwright's own Chromium")
    if run([sys.executable, "-m", "playwright", "install", "chromium"]) == 0 and (
        playwright_chromium_works(run)
    ):
        say("browser: Playwright's own Chromium")
        return ""
    say(
        "browser: NONE - no Chromium could be installed; the browser tests will be SKIPPED "
        "(and fail under CI). Run `make test` as root with apt-get, or "
        "`.venv/bin/python -m playwright install --with-deps chromium`."
    )
    return None


if __name__ == "__main__":
    provision()
