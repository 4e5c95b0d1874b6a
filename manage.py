#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

# The analysis engine's own commands need neither Django nor settings: they start without
# either (a fraction of a second instead of seconds), as `flowlogs analyze` / `flowlogs generate`.
OFFLINE = {"analyze": "analyze", "generate_flowlogs": "generate"}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in OFFLINE:
        from analysis.console import main as console

        prog = os.path.basename(sys.argv[0])
        names = {command: name for name, command in OFFLINE.items()}
        sys.exit(console([OFFLINE[sys.argv[1]], *sys.argv[2:]], prog=prog, names=names))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
