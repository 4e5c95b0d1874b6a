"""The system libraries PDF reports need, provisioned by `make install` as tests/browser_setup
provisions Chromium: `python -m investigations.reports.provision`.

WeasyPrint lays out PDFs with Pango (and HarfBuzz, fontconfig) from the system. When
`import weasyprint` fails and we are root with apt-get, Debian's packages are installed; else
the command says what is missing. It always exits 0: Markdown reports work without them, and a
PDF request then fails with the import error's message."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence

DEBIAN_PACKAGES = ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0", "fontconfig")
_PROBE = "import weasyprint"

Runner = Callable[[Sequence[str]], int]


def _run(command: Sequence[str]) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        return subprocess.run(
            command, env=env, check=False, timeout=900, stdout=subprocess.DEVNULL
        ).returncode
    except (OSError, subprocess.TimeoutExpired):
        return 1


def weasyprint_loads(run: Runner = _run) -> bool:
    return run([sys.executable, "-c", _PROBE]) == 0


def can_use_apt() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def provision(
    run: Runner = _run, *, apt: bool | None = None, say: Callable[[str], None] = print
) -> bool:
    """True when WeasyPrint loads (at once, or after installing Debian's libraries)."""
    if weasyprint_loads(run):
        say("pdf reports: WeasyPrint loads")
        return True
    if apt is None:
        apt = can_use_apt()
    if not apt:
        say(
            "pdf reports: WeasyPrint cannot load its system libraries; install "
            + " ".join(DEBIAN_PACKAGES)
            + " (Debian/Ubuntu) or see WeasyPrint's installation notes."
        )
        return False
    say("pdf reports: installing " + " ".join(DEBIAN_PACKAGES) + " with apt-get")
    run(["apt-get", "update", "-qq"])
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *DEBIAN_PACKAGES])
    loads = weasyprint_loads(run)
    say("pdf reports: WeasyPrint loads" if loads else "pdf reports: WeasyPrint still fails")
    return loads


if __name__ == "__main__":
    provision()
