"""Site-wide pages: home, health check and the audit log."""

import json
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal import health
from portal.api.tokens import create_token, revoke_token
from portal.auth_audit import changes_made_by
from portal.csvexport import csv_response
from portal.filtersets import AuditEventFilterForm
from portal.forms import ApiTokenForm, WebhookForm
from portal.models import ApiToken, AuditEvent, Webhook
from portal.roles import can_read_audit
from portal.webhooks import MAX_ATTEMPTS, create_webhook, delete_webhook


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("investigations:list")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and docker-compose: ok or fail, nothing more. Admins and
    holders of HEALTHZ_TOKEN get each dependency's state (portal.health)."""
    if health.may_see_details(request):
        ok, checks = health.detailed_status()
        return JsonResponse(
            {"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503
        )
    ok = health.public_status()
    return JsonResponse({"status": "ok" if ok else "fail"}, status=200 if ok else 503)


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
            [
                "time",
                "actor",
                "action",
                "target_type",
                "target_id",
                "target",
                "client_ip",
                "user_agent",
                "api_token_id",
                "details",
                "hash",
            ],
            (
                [
                    e.created_at.isoformat(),
                    e.actor_name,
                    e.action,
                    e.target_type,
                    e.target_id,
                    e.target_repr,
                    e.client_ip or "",
                    e.user_agent,
                    e.api_token_id or "",
                    json.dumps(e.details, sort_keys=True),
                    e.hash,
                ]
                for e in events.iterator()
            ),
        )
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request, "portal/audit_log.html", {"form": form, "page": page, "query": query.urlencode()}
    )


@require_http_methods(["GET", "POST"])
def integrations(request: HttpRequest) -> HttpResponse:
    """The user's API tokens and webhooks; a new secret is shown once, right here."""
    token_form = ApiTokenForm(prefix="token")
    webhook_form = WebhookForm(prefix="hook")
    revealed: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if "token-name" in request.POST:
            token_form = ApiTokenForm(request.POST, prefix="token")
            if token_form.is_valid():
                data = token_form.cleaned_data
                expires = (
                    timezone.now() + timedelta(days=data["expires_days"])
                    if data.get("expires_days")
                    else None
                )
                try:
                    token, key = create_token(
                        user=request.user,
                        name=data["name"],
                        scopes=data["scopes"],
                        expires_at=expires,
                        actor=request.user,
                    )
                    revealed = {"kind": "API token", "name": token.name, "secret": key}
                    token_form = ApiTokenForm(prefix="token")
                except (ValueError, IntegrityError):
                    token_form.add_error("name", "You already have a token with this name.")
            status = 200 if revealed else 400
        elif "hook-name" in request.POST:
            webhook_form = WebhookForm(request.POST, prefix="hook")
            if webhook_form.is_valid():
                try:
                    hook, secret = create_webhook(user=request.user, **webhook_form.cleaned_data)
                    revealed = {
                        "kind": "Webhook signing secret",
                        "name": hook.name,
                        "secret": secret,
                    }
                    webhook_form = WebhookForm(prefix="hook")
                except ValueError as exc:
                    webhook_form.add_error("url", str(exc))
            status = 200 if revealed else 400
    user_id = int(request.user.pk or 0)  # the login middleware guarantees a user
    return render(
        request,
        "portal/integrations.html",
        {
            "tokens": ApiToken.objects.filter(user_id=user_id),
            "webhooks": Webhook.objects.filter(user_id=user_id).prefetch_related("deliveries"),
            "token_form": token_form,
            "webhook_form": webhook_form,
            "revealed": revealed,
        },
        status=status,
    )


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user_id=request.user.pk)
    revoke_token(token=token, actor=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("integrations")


@require_POST
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    hook = get_object_or_404(Webhook, pk=pk, user_id=request.user.pk)
    delete_webhook(user=request.user, webhook=hook)
    messages.success(request, f"Webhook “{hook.name}” deleted.")
    return redirect("integrations")


@require_GET
def webhook_deliveries(request: HttpRequest, pk: int) -> HttpResponse:
    """One webhook's delivery log: every message, its attempts, last error and next retry."""
    hook = get_object_or_404(Webhook, pk=pk, user_id=request.user.pk)
    page = Paginator(hook.deliveries.order_by("-created_at", "-id"), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "portal/webhook_deliveries.html",
        {
            "hook": hook,
            "page": page,
            "rows": page.object_list,
            "max_attempts": MAX_ATTEMPTS,
            "now": timezone.now(),
        },
    )


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password page; the change is audited with the user's address and browser."""

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        with changes_made_by(self.request):
            return super().form_valid(form)
