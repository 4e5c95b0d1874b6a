"""Per-object access for views and the API: 404 for what the user cannot see, 403 for what they
can see but not change."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from investigations.models import Finding, Investigation, QueryRun


def get_investigation_for_user(user: Any, pk: int) -> Investigation:
    return get_object_or_404(Investigation.objects.for_user(user), pk=pk)


def get_rw_investigation_for_user(user: Any, pk: int) -> Investigation:
    investigation = get_investigation_for_user(user, pk)
    if not Investigation.objects.writable_by(user).filter(pk=pk).exists():
        raise PermissionDenied("Your role can read this investigation but not change it.")
    return investigation


def get_run_for_user(user: Any, pk: int) -> QueryRun:
    return get_object_or_404(
        QueryRun.objects.for_user(user).select_related("investigation", "requested_by"), pk=pk
    )


def get_rw_run_for_user(user: Any, pk: int) -> QueryRun:
    run = get_run_for_user(user, pk)
    if not Investigation.objects.writable_by(user).filter(pk=run.investigation_id).exists():
        raise PermissionDenied("Your role can read this run but not change it.")
    return run


def get_finding_for_user(user: Any, pk: int) -> Finding:
    return get_object_or_404(
        Finding.objects.for_user(user).select_related("investigation", "assignee"), pk=pk
    )


def get_rw_finding_for_user(user: Any, pk: int) -> Finding:
    finding = get_finding_for_user(user, pk)
    if not Investigation.objects.writable_by(user).filter(pk=finding.investigation_id).exists():
        raise PermissionDenied("Your role can read this finding but not triage it.")
    return finding
