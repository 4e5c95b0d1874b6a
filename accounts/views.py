"""Pages for AWS accounts. Short function views: access gate, form, service, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import get_account_for_user, get_rw_account_for_user, require_account_admin
from accounts.forms import AwsAccountForm
from accounts.models import AwsAccount, FlowLogConfig, Instance, RegionDiscovery, Vpc
from accounts.policies import policies_for
from accounts.principal import portal_principal
from accounts.querysets import can_manage_aws_accounts
from accounts.role_templates import FORMATS, role_setup_for
from accounts.services import (
    create_account,
    delete_account,
    refresh_discovery,
    run_connection_test,
    search_instances,
    update_account,
)
from portal.audit import client_ip_of

# The page lists this many instances; the picker and the API find any of them.
INSTANCES_SHOWN = 200


@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    accounts = AwsAccount.objects.for_user(request.user).order_by("name")
    return render(
        request,
        "accounts/list.html",
        {
            "accounts": accounts,
            "can_manage": can_manage_aws_accounts(request.user),
        },
    )


def _save_form(
    request: HttpRequest, form: AwsAccountForm, account: AwsAccount | None
) -> AwsAccount | None:
    """Call the service; its validation errors go next to the form's fields."""
    data = {name: form.cleaned_data[name] for name in AwsAccountForm.Meta.fields}
    try:
        if account is None:
            return create_account(user=request.user, client_ip=client_ip_of(request), **data)
        return update_account(
            user=request.user, account=account, client_ip=client_ip_of(request), **data
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None


@require_http_methods(["GET", "POST"])
def account_create(request: HttpRequest) -> HttpResponse:
    require_account_admin(request.user)
    form = AwsAccountForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid() and (account := _save_form(request, form, None)) is not None:
            messages.success(
                request,
                "AWS account registered. Create the role with the policies "
                "below, then test the connection.",
            )
            return redirect(account)
        return render(request, "accounts/form.html", {"form": form}, status=400)
    return render(request, "accounts/form.html", {"form": form})


@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_rw_account_for_user(request.user, pk)
    form = AwsAccountForm(request.POST or None, instance=account)
    if request.method == "POST":
        # The form's instance holds unsaved edits; the service works on a fresh copy.
        fresh = AwsAccount.objects.get(pk=account.pk)
        if form.is_valid() and (saved := _save_form(request, form, fresh)) is not None:
            messages.success(request, "AWS account updated.")
            return redirect(saved)
        return render(request, "accounts/form.html", {"form": form, "account": account}, status=400)
    return render(request, "accounts/form.html", {"form": form, "account": account})


@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_rw_account_for_user(request.user, pk)
    if request.method == "POST":
        name = account.name
        delete_account(user=request.user, account=account, client_ip=client_ip_of(request))
        messages.success(request, f"AWS account {name} removed, with its discovered resources.")
        return redirect("accounts:list")
    return render(request, "accounts/confirm_delete.html", {"account": account})


@require_GET
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account_for_user(request.user, pk)
    instances = Instance.objects.filter(account=account)
    can_manage = can_manage_aws_accounts(request.user)
    principal = portal_principal()
    setup = role_setup_for(account, principal=principal) if can_manage else None
    return render(
        request,
        "accounts/detail.html",
        {
            "account": account,
            "can_manage": can_manage,
            "principal": principal,
            "policies": policies_for(account, principal_arn=principal.arn),
            "setup": setup,
            "setup_cloudformation": setup.cloudformation_yaml() if setup else "",
            "setup_terraform": setup.terraform() if setup else "",
            "discoveries": RegionDiscovery.objects.filter(account=account).order_by("region"),
            "vpcs": Vpc.objects.filter(account=account),
            "instances": instances[:INSTANCES_SHOWN],
            "instance_count": instances.count(),
            "instances_shown": INSTANCES_SHOWN,
            "flow_logs": FlowLogConfig.objects.filter(account=account),
            "test": account.last_test_result or None,
        },
    )


@require_GET
def account_setup(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """The role as a file to download (admins): CloudFormation YAML or JSON, or Terraform."""
    account = get_rw_account_for_user(request.user, pk)
    if fmt not in FORMATS:
        raise Http404("No such template format.")
    setup = role_setup_for(account)
    response = HttpResponse(setup.render(fmt), content_type=f"{FORMATS[fmt][0]}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{setup.filename(fmt)}"'
    return response


@require_POST
def account_test_connection(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_rw_account_for_user(request.user, pk)
    result = run_connection_test(
        user=request.user, account=account, client_ip=client_ip_of(request)
    )
    failed = [c for c in result["checks"] if not c["ok"]]
    if result["ok"]:
        messages.success(request, f"Connection works: all {len(result['checks'])} checks passed.")
    else:
        messages.error(
            request,
            f"Connection test: {len(failed)} of {len(result['checks'])} "
            "checks failed; see the details below.",
        )
    return redirect(account)


@require_POST
def account_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_rw_account_for_user(request.user, pk)
    # Inline: a few Describe calls per region. `accounts.tasks.refresh_discovery` does the same
    # in the background for scheduled refreshes.
    result = refresh_discovery(user=request.user, account=account, client_ip=client_ip_of(request))
    if result.ok:
        messages.success(request, f"Discovery refreshed. {result.summary()}.")
    else:
        messages.error(
            request,
            f"Discovery incomplete; cached rows of failed regions were kept. {result.summary()}.",
        )
    return redirect(account)


@require_GET
def instance_search(request: HttpRequest, pk: int) -> JsonResponse:
    """JSON for the run form's instance picker: matches with addresses, CIDRs and flow log."""
    account = get_account_for_user(request.user, pk)
    query = request.GET.get("q", "")
    targets, total = search_instances(user=request.user, account=account, query=query)
    return JsonResponse(
        {
            "account": account.pk,
            "query": query,
            "count": total,
            "truncated": total > len(targets),
            "results": [t.to_dict() for t in targets],
        }
    )
