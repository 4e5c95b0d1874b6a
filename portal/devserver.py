"""`make demo`'s last step: a local moto server standing in for AWS, the web server and a Celery
worker, together until Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

DEMO_LOGINS = (
    ("analyst", "analyst-demo", "analyst: opens investigations and runs analyses"),
    ("manager", "manager-demo", "manager: reads everything, changes nothing"),
    ("admin", "admin-demo", "admin: users, AWS accounts, reference tables"),
)
MOTO_PORT = int(os.environ.get("DEMO_MOTO_PORT", "5055"))


def _wait_for(url: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
                return True
        except OSError:
            time.sleep(0.3)
    return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    python = sys.executable
    processes: list[subprocess.Popen[bytes]] = []
    env = os.environ.copy()
    moto_url = f"http://127.0.0.1:{MOTO_PORT}"
    if _port_free(MOTO_PORT):
        processes.append(
            subprocess.Popen(
                [python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(MOTO_PORT)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    if _wait_for(f"{moto_url}/moto-api/"):
        # The demo AWS account lives on this local moto server; nothing reaches real AWS.
        env.update(
            AWS_ENDPOINT_URL=moto_url,
            AWS_ACCESS_KEY_ID="demo",
            AWS_SECRET_ACCESS_KEY="demo",  # noqa: S106
            AWS_DEFAULT_REGION="us-east-1",
        )
        env.pop("AWS_PROFILE", None)
        subprocess.run(
            [python, "manage.py", "seed_demo_aws", "--endpoint-url", moto_url], env=env, check=False
        )
        # The demo investigation watches the web instance; `manage.py demo_incident` plants an
        # SSH brute force for the watch to alert on.
        subprocess.run([python, "manage.py", "seed_demo_watch"], env=env, check=False)
    else:
        print("moto server did not start; the demo AWS account is unavailable.", flush=True)
    processes.append(
        subprocess.Popen(
            [
                python,
                "-m",
                "gunicorn",
                "portal.wsgi",
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--timeout",
                "300",
            ],
            env=env,
        )
    )
    processes.append(
        subprocess.Popen(
            [
                python,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--queues=analyse,download",
                "--loglevel=INFO",
                "--concurrency=2",
                "--without-mingle",
                "--without-gossip",
            ],
            env=env,
        )
    )
    processes.append(
        subprocess.Popen(
            [
                python,
                "-m",
                "celery",
                "-A",
                "portal",
                "beat",
                "--loglevel=WARNING",
                "--schedule",
                os.path.join(os.environ.get("DATA_DIR", "var"), "celerybeat-schedule"),
            ],
            env=env,
        )
    )
    _wait_for(f"http://{host}:{port}/healthz")
    print(f"\n  Flow Log Portal is running at http://{host}:{port}/\n", flush=True)
    for username, password, what in DEMO_LOGINS:
        print(f"    {username:<8} / {password:<13} ({what})", flush=True)
    print("\n  The demo AWS account (a local moto server) is under AWS accounts.", flush=True)
    print(
        "  A watch on it alerts on new incidents: `.venv/bin/python manage.py demo_incident`.",
        flush=True,
    )
    print("  Press Ctrl-C to stop.\n", flush=True)

    def stop(*_: object) -> None:
        for process in processes:
            if process.poll() is None:
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in processes[-3:]):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
