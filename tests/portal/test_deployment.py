"""docker-compose.yml cannot run here, so its pieces are checked directly: the file's shape and
the very commands its services run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import brotli
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_every_service_with_healthchecks_where_others_wait() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["DEBUG"] == "false"
        assert "SECRET_KEY" in env and "ALLOWED_HOSTS" in env
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _production_env(tmp_path: Path) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        DEBUG="false",
        SECRET_KEY="x" * 10 + "-a-long-random-production-secret-for-tests-1234",
        ALLOWED_HOSTS="127.0.0.1",
        DATA_DIR=str(tmp_path),
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        SECURE_SSL_REDIRECT="false",
    )
    env.pop("DATABASE_URL", None)
    return env


def test_the_web_command_serves_health_with_production_settings(tmp_path: Path) -> None:
    env = _production_env(tmp_path)
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    subprocess.run(
        [python, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    port = _free_port()
    web = subprocess.Popen(
        [python, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = b""
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = r.read()
                break
            except OSError:
                time.sleep(0.2)
        assert body == b'{"status": "ok"}'
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/css/portal.css") as r:
            plain = r.read()
            assert b"--accent" in plain
        # collectstatic wrote brotli copies (portal.staticfiles) that WhiteNoise serves.
        ask_br = urllib.request.Request(
            f"http://127.0.0.1:{port}/static/css/portal.css", headers={"Accept-Encoding": "br"}
        )
        with urllib.request.urlopen(ask_br) as r:  # noqa: S310 (the http:// request above)
            assert r.headers["Content-Encoding"] == "br"
            assert brotli.decompress(r.read()) == plain
    finally:
        web.terminate()
        try:
            web.wait(timeout=20)
        except subprocess.TimeoutExpired:
            web.kill()
            web.wait()


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path: Path) -> None:
    env = _production_env(tmp_path)
    env["SECRET_KEY"] = ""
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_bad_setting_value_fails_loudly(tmp_path: Path) -> None:
    env = _production_env(tmp_path)
    env["ENGINE_THREADS"] = "lots"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "lots" in result.stderr


def test_the_beat_command_starts(tmp_path: Path) -> None:
    """The worker command runs in every worker test; beat is started here and must say so."""
    beat = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(tmp_path / "beat-schedule"),
        ],
        cwd=ROOT,
        env=_production_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert beat.stdout is not None
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = beat.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "beat: Starting" in line:
                break
        assert any("beat: Starting" in line for line in seen), "".join(seen)
    finally:
        beat.terminate()
        try:
            beat.wait(timeout=20)
        except subprocess.TimeoutExpired:
            beat.kill()
            beat.wait()


def test_production_defaults_pass_the_deploy_check(tmp_path: Path) -> None:
    env = _production_env(tmp_path)
    for name in (
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
    ):  # the last is set for Playwright tests only
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
