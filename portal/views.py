"""Site-wide pages: home, health check and the audit log."""

import json

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from portal.csvexport import csv_response
from portal.filtersets import AuditEventFilterForm
from portal.models import AuditEvent
from portal.roles import can_read_audit


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("investigations:list")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and docker-compose: the process answers and the DB responds."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means unhealthy
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})


AUDIT_PAGE_SIZE = 50


@require_GET
def audit_log(request: HttpRequest) -> HttpResponseBase:
    """Read-only audit log for managers and admins, filterable and exportable as CSV."""
    if not can_read_audit(request.user):
        raise PermissionDenied("Only managers and admins read the audit log.")
    form = AuditEventFilterForm(request.GET or None)
    events: QuerySet[AuditEvent] = AuditEvent.objects.for_user(request.user).order_by(
        "-created_at", "-id"
    )
    if request.GET:
        events = form.filter(events)
    if request.GET.get("export") == "csv":
        return csv_response(
            "audit-log.csv",
            ["time", "actor", "action", "target_type", "target_id", "target", "client_ip",
             "api_token_id", "details", "hash"],
            (
                [e.created_at.isoformat(), e.actor_name, e.action, e.target_type, e.target_id,
                 e.target_repr, e.client_ip or "", e.api_token_id or "",
                 json.dumps(e.details, sort_keys=True), e.hash]
                for e in events.iterator()
            ),
        )
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "portal/audit_log.html",
                  {"form": form, "page": page, "query": query.urlencode()})
