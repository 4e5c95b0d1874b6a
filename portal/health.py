"""Health checks: the public answer is ok/fail (the database answers); the detailed one, for
admins and monitoring holding HEALTHZ_TOKEN, checks database, broker, cache and scratch space
each on its own."""

from __future__ import annotations

import hmac
import shutil
import tempfile
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from portal.roles import Role, has_role

BROKER_TIMEOUT_SECONDS = 3


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {}


def check_broker() -> dict[str, Any]:
    from portal.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0.5, timeout=BROKER_TIMEOUT_SECONDS
        )
    return {}


def check_cache() -> dict[str, Any]:
    key, value = f"healthz-{uuid.uuid4().hex}", "1"
    cache.set(key, value, 10)
    if cache.get(key) != value:
        raise RuntimeError("the cache did not keep a value")
    cache.delete(key)
    return {}


def check_scratch() -> dict[str, Any]:
    """The folder runs spill and stage files in: writable, with HEALTHZ_MIN_FREE_BYTES free."""
    folder = settings.WORK_DIR
    with tempfile.NamedTemporaryFile(dir=folder):
        pass
    free = shutil.disk_usage(folder).free
    if free < settings.HEALTHZ_MIN_FREE_BYTES:
        raise RuntimeError(f"only {free} bytes free")
    return {"free_bytes": free}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": check_database,
    "broker": check_broker,
    "cache": check_cache,
    "scratch": check_scratch,
}


def public_status() -> bool:
    """What load balancers see: the process answers and its database responds."""
    try:
        check_database()
    except Exception:  # any database failure means unhealthy
        return False
    return True


def detailed_status() -> tuple[bool, dict[str, dict[str, Any]]]:
    results: dict[str, dict[str, Any]] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = {"ok": True, **check()}
        except Exception as exc:  # each check reports its own failure
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return all(r["ok"] for r in results.values()), results


def may_see_details(request: Any) -> bool:
    """Admins (signed in), or a caller presenting HEALTHZ_TOKEN as a bearer token."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and has_role(user, Role.ADMIN):
        return True
    token = settings.HEALTHZ_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    offered = header[7:].strip() if header[:7].lower() == "bearer " else ""
    return bool(token) and bool(offered) and hmac.compare_digest(offered, token)
