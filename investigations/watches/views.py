"""Pages for watches: "Watch this" on a finished AWS run, a watch's page with its runs and
alerts, and pause, resume, edit and delete. Access gate, form, service, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from investigations.access import get_rw_run_for_user
from investigations.models import Investigation
from investigations.services import RunRequestInvalid
from investigations.watches import services
from investigations.watches.forms import WatchForm
from investigations.watches.models import Watch
from portal.audit import client_ip_of


def get_watch_for_user(user: object, pk: int) -> Watch:
    return get_object_or_404(
        Watch.objects.for_user(user).select_related("investigation", "account", "created_by"),
        pk=pk,
    )


def get_rw_watch_for_user(user: object, pk: int) -> Watch:
    watch = get_watch_for_user(user, pk)
    if not Investigation.objects.writable_by(user).filter(pk=watch.investigation_id).exists():
        raise PermissionDenied("Your role can read this watch but not change it.")
    return watch


@require_http_methods(["GET", "POST"])
def watch_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Repeat this run every N minutes over each new window."""
    run = get_rw_run_for_user(request.user, pk)
    form = WatchForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                watch = services.create_watch_from_run(
                    user=request.user,
                    run=run,
                    interval_minutes=form.cleaned_data["interval_minutes"],
                    k=form.cleaned_data["k"],
                    client_ip=client_ip_of(request),
                )
            except RunRequestInvalid as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Watching {watch.name}: its first run starts shortly.")
                return redirect(watch.get_absolute_url())
        status = 400
    config = run.source_config or {}
    instance = config.get("instance") or {}
    repeats = (
        f"account {config.get('account_id')}, instance "
        f"{instance.get('name') or instance.get('instance_id')}, {run.get_source_display()}"
        if instance
        else "its uploaded files (only AWS-sourced runs can be watched)"
    )
    return render(
        request,
        "watches/create.html",
        {"run": run, "form": form, "repeats": repeats},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def watch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The watch, its runs and its alerts; POST changes its interval and k."""
    watch = get_watch_for_user(request.user, pk)
    can_write = (
        Investigation.objects.writable_by(request.user).filter(pk=watch.investigation_id).exists()
    )
    form = WatchForm(
        request.POST or None, initial={"interval_minutes": watch.interval_minutes, "k": watch.k}
    )
    status = 200
    if request.method == "POST":
        if not can_write:
            raise PermissionDenied("Your role can read this watch but not change it.")
        if form.is_valid():
            try:
                services.update_watch(
                    user=request.user,
                    watch=watch,
                    interval_minutes=form.cleaned_data["interval_minutes"],
                    k=form.cleaned_data["k"],
                    client_ip=client_ip_of(request),
                )
            except RunRequestInvalid as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Watch saved.")
                return redirect(watch.get_absolute_url())
        status = 400
    runs = watch.watch_runs.select_related("run").order_by("-window_start", "-id")[:100]
    alerts = watch.alerts.select_related("finding", "run").order_by("-created_at", "-id")[:200]
    return render(
        request,
        "watches/detail.html",
        {
            "watch": watch,
            "investigation": watch.investigation,
            "watch_runs": runs,
            "alerts": alerts,
            "form": form,
            "can_write": can_write,
        },
        status=status,
    )


@require_POST
def watch_pause(request: HttpRequest, pk: int) -> HttpResponse:
    return _change(request, pk, services.pause_watch, "Watch paused: no runs until resumed.")


@require_POST
def watch_resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _change(
        request,
        pk,
        services.resume_watch,
        "Watch resumed: its next run reads everything since its last window.",
    )


@require_POST
def watch_delete(request: HttpRequest, pk: int) -> HttpResponse:
    watch = get_rw_watch_for_user(request.user, pk)
    investigation = watch.investigation
    services.delete_watch(user=request.user, watch=watch, client_ip=client_ip_of(request))
    messages.success(request, "Watch deleted; the runs it started stay in the investigation.")
    return redirect(investigation.get_absolute_url() + "#watches")


def _change(request: HttpRequest, pk: int, change: object, done: str) -> HttpResponse:
    watch = get_rw_watch_for_user(request.user, pk)
    try:
        change(user=request.user, watch=watch, client_ip=client_ip_of(request))  # type: ignore[operator]
    except RunRequestInvalid as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect(watch.get_absolute_url())
