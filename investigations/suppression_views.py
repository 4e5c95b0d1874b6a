"""Pages for suppression rules: an investigation's rules (and "Suppress similar" from a finding),
the global rules, and disabling one. Access gate, form, service, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from investigations.access import get_finding_for_user, get_investigation_for_user
from investigations.forms import SuppressionRuleForm
from investigations.ids import parse_id
from investigations.models import Investigation, SuppressionRule
from investigations.services import RunRequestInvalid
from investigations.suppressions import (
    SuppressionRuleInvalid,
    can_manage_global_rules,
    can_manage_rules,
    check_rule_fields,
    create_rule,
    disable_rule,
    prefill_from_finding,
)
from portal.audit import client_ip_of


@require_http_methods(["GET", "POST"])
def investigation_rules(request: HttpRequest, pk: int) -> HttpResponse:
    """An investigation's rules, active and disabled, and the form for a new one (prefilled
    from a finding with `?finding=<id>`)."""
    investigation = get_investigation_for_user(request.user, pk)
    can_manage = can_manage_rules(request.user, investigation)
    if request.method == "POST" and not can_manage:
        raise PermissionDenied("Your role can read these rules but not change them.")
    initial: dict[str, Any] = {}
    finding = None
    wanted = parse_id(request.GET.get("finding"))
    if wanted is not None:
        finding = get_finding_for_user(request.user, wanted)
        if finding.investigation_id != investigation.pk:
            finding = None
        else:
            initial = prefill_from_finding(finding)
    return _rules_page(request, investigation, can_manage, initial, finding)


@require_http_methods(["GET", "POST"])
def global_rules(request: HttpRequest) -> HttpResponse:
    """Rules every investigation's runs honour: everyone reads them, admins manage them."""
    can_manage = can_manage_global_rules(request.user)
    if request.method == "POST" and not can_manage:
        raise PermissionDenied("Only admins manage global suppression rules.")
    return _rules_page(request, None, can_manage, {}, None)


def _rules_page(
    request: HttpRequest,
    investigation: Investigation | None,
    can_manage: bool,
    initial: dict[str, Any],
    finding: Any,
) -> HttpResponse:
    form = SuppressionRuleForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                rule = create_rule(
                    user=request.user,
                    investigation=investigation,
                    name=data["name"],
                    reason=data["reason"],
                    detection=data["detection"],
                    actor=data["actor"],
                    target=data["target"],
                    expires_at=data["expires_at"],
                    client_ip=client_ip_of(request),
                )
            except SuppressionRuleInvalid as exc:
                _add_errors(form, exc.errors)
            else:
                messages.success(
                    request,
                    f"{rule.label} saved: later runs list the findings it matches apart.",
                )
                return redirect(rule.get_absolute_url())
        else:
            # Every problem at once: the service's checks too, on the fields the form passed.
            try:
                check_rule_fields(
                    name=str(form.data.get("name", "")),
                    reason=str(form.data.get("reason", "")),
                    detection=str(form.data.get("detection", "")),
                    actor=str(form.data.get("actor", "")),
                    target=str(form.data.get("target", "")),
                    expires_at=form.cleaned_data.get("expires_at"),
                )
            except SuppressionRuleInvalid as exc:
                _add_errors(form, {k: v for k, v in exc.errors.items() if k not in form.errors})
        status = 400
    rules = SuppressionRule.objects.select_related("created_by", "disabled_by")
    rules = (
        rules.filter(investigation=investigation)
        if investigation is not None
        else rules.filter(investigation__isnull=True)
    )
    listed = list(rules.order_by("-created_at", "-id"))
    return render(
        request,
        "investigations/suppressions.html",
        {
            "investigation": investigation,
            "active": [rule for rule in listed if rule.state() == "active"],
            "inactive": [rule for rule in listed if rule.state() != "active"],
            "form": form,
            "can_manage": can_manage,
            "finding": finding,
            "global_count": SuppressionRule.objects.filter(investigation__isnull=True)
            .active()
            .count(),
        },
        status=status,
    )


def _add_errors(form: SuppressionRuleForm, errors: dict[str, str]) -> None:
    for field, message in errors.items():
        form.add_error(field if field in form.fields else None, message)


@require_POST
def rule_disable(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(SuppressionRule.objects.for_user(request.user), pk=pk)
    try:
        rule = disable_rule(user=request.user, rule=rule, client_ip=client_ip_of(request))
    except RunRequestInvalid as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{rule.label} disabled: later runs no longer honour it.")
    return redirect(rule.get_absolute_url())
