"""`make install` provisions WeasyPrint's system libraries: nothing when it loads, apt-get as
root when it does not, and a clear line naming the packages otherwise."""

from __future__ import annotations

from collections.abc import Sequence

from investigations.reports import provision


class FakeSystem:
    """Records the commands; apt-get install makes the import probe succeed when `apt_works`."""

    def __init__(self, *, loads: bool, apt_works: bool = True) -> None:
        self.loads = loads
        self.apt_works = apt_works
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> int:
        self.commands.append(list(command))
        if command[0] == "apt-get":
            if command[1] == "install" and self.apt_works:
                self.loads = True
            return 0 if self.apt_works else 100
        assert command[1:] == ["-c", "import weasyprint"]
        return 0 if self.loads else 1


def test_nothing_is_installed_when_weasyprint_loads() -> None:
    system = FakeSystem(loads=True)
    assert provision.provision(system, apt=True, say=lambda line: None)
    assert [c[0] for c in system.commands] != ["apt-get"]
    assert len(system.commands) == 1


def test_root_with_apt_installs_debians_pango() -> None:
    system = FakeSystem(loads=False)
    said: list[str] = []
    assert provision.provision(system, apt=True, say=said.append)
    install = next(c for c in system.commands if c[:2] == ["apt-get", "install"])
    assert {"libpango-1.0-0", "libpangoft2-1.0-0"} <= set(install)
    assert said[-1] == "pdf reports: WeasyPrint loads"


def test_without_apt_it_names_the_missing_packages() -> None:
    system = FakeSystem(loads=False)
    said: list[str] = []
    assert not provision.provision(system, apt=False, say=said.append)
    assert not any(c[0] == "apt-get" for c in system.commands)
    assert "libpango-1.0-0" in said[0]


def test_a_failed_install_is_reported() -> None:
    system = FakeSystem(loads=False, apt_works=False)
    said: list[str] = []
    assert not provision.provision(system, apt=True, say=said.append)
    assert said[-1] == "pdf reports: WeasyPrint still fails"
