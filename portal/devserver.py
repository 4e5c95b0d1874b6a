"""`make demo`'s last step: run the web server and a Celery worker together until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

DEMO_LOGINS = (
    ("analyst", "analyst-demo", "analyst: opens investigations and runs analyses"),
    ("manager", "manager-demo", "manager: reads everything, changes nothing"),
    ("admin", "admin-demo", "admin: users, AWS accounts, reference tables"),
)


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    python = sys.executable
    web = subprocess.Popen(
        [python, "-m", "gunicorn", "portal.wsgi", "--bind", f"{host}:{port}", "--workers", "2",
         "--threads", "4", "--access-logfile", "-", "--timeout", "300"]
    )
    worker = subprocess.Popen(
        [python, "-m", "celery", "-A", "portal", "worker", "--loglevel=INFO", "--concurrency=2",
         "--without-mingle", "--without-gossip"]
    )
    time.sleep(2)
    print(f"\n  Flow Log Portal is running at http://{host}:{port}/\n", flush=True)
    for username, password, what in DEMO_LOGINS:
        print(f"    {username:<8} / {password:<13} ({what})", flush=True)
    print("\n  Press Ctrl-C to stop.\n", flush=True)

    def stop(*_: object) -> None:
        for process in (web, worker):
            if process.poll() is None:
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while web.poll() is None and worker.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for process in (web, worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
