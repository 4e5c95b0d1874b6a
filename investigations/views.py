"""Pages for investigations and runs. Short function views: access gate, form, service, render."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from investigations.access import (
    get_investigation_for_user,
    get_run_for_user,
    get_rw_finding_for_user,
    get_rw_investigation_for_user,
    get_rw_run_for_user,
)
from investigations.choices import FindingStatus, ReferenceKind
from investigations.compare import candidates as compare_candidates
from investigations.compare import compare_runs, default_counterpart, order_runs, parse_run_id
from investigations.entities import BadAddress, entity_report, parse_address
from investigations.exports import export_rows
from investigations.filtersets import FindingFilterForm, InvestigationFilterForm, RunFilterForm
from investigations.forms import (
    AssigneeForm,
    FindingTriageForm,
    InvestigationForm,
    MembersForm,
    NoteForm,
    ReferenceUploadForm,
    RunForm,
    TagsForm,
)
from investigations.ids import parse_id
from investigations.models import (
    Finding,
    Investigation,
    QueryRun,
    ReferenceTable,
    RunResult,
    Tag,
    UploadedLog,
)
from investigations.reference import (
    ReferenceUploadRejected,
    can_change_sharing,
    can_manage_reference_tables,
    can_publish_version,
    set_shared_editable,
    upload_reference_version,
)
from investigations.resulttables import FIRST_ROWS, RESULT_PAGE_SIZE, page_size, result_table
from investigations.runs.submit import cancel_run, submit_run
from investigations.runsummary import run_summary
from investigations.services import (
    RunRequestInvalid,
    add_note,
    create_investigation,
    set_assignee,
    set_investigation_status,
    set_members,
    set_tags,
    triage_findings,
)
from investigations.sightings import sighted_in, with_sightings
from investigations.timeline import investigation_timeline, timeline_limit
from investigations.uploads import UploadRejected, display_name, store_upload
from portal.audit import client_ip_of
from portal.roles import can_run_analyses


@require_GET
def investigation_list(request: HttpRequest) -> HttpResponse:
    investigations: QuerySet[Any] = (
        Investigation.objects.for_user(request.user)
        .select_related("owner", "assignee")
        .prefetch_related("tags")
        .annotate(run_count=Count("runs", distinct=True))
        .order_by("-updated_at", "-id")
    )
    form = InvestigationFilterForm(request.GET, user=request.user)
    investigations = form.filter(investigations)
    page = Paginator(investigations, 25).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "investigations/list.html",
        {"page": page, "form": form, "query": params.urlencode()},
    )


@require_http_methods(["GET", "POST"])
def investigation_create(request: HttpRequest) -> HttpResponse:
    if not can_run_analyses(request.user):
        raise PermissionDenied("Only analysts can open investigations.")
    form = InvestigationForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        investigation = create_investigation(
            user=request.user,
            title=form.cleaned_data["title"],
            description=form.cleaned_data["description"],
            members=form.cleaned_data["members"],
            tags=form.cleaned_data["tags"],
            client_ip=client_ip_of(request),
        )
        messages.success(request, "Investigation opened.")
        return redirect(investigation)
    return render(request, "investigations/form.html", {"form": form})


@require_GET
def investigation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    investigation = get_investigation_for_user(request.user, pk)
    runs = investigation.runs.select_related("requested_by").order_by("-created_at")
    can_write = Investigation.objects.writable_by(request.user).filter(pk=pk).exists()
    tags = list(investigation.tags.order_by("name"))
    finding_filter = FindingFilterForm(
        request.GET,
        types=list(
            investigation.findings.order_by("type").values_list("type", flat=True).distinct()
        ),
    )
    findings = Paginator(
        finding_filter.filter(
            with_sightings(investigation.findings.select_related("assignee", "last_run"))
        ),
        FINDINGS_PAGE,
    ).get_page(request.GET.get("fpage"))
    query = request.GET.copy()
    query.pop("fpage", None)
    context: dict[str, Any] = {
        "investigation": investigation,
        "runs": runs,
        "members": investigation.members.order_by("username"),
        "tags": tags,
        "findings": findings.object_list,
        "findings_page": findings,
        "finding_filter": finding_filter,
        "finding_query": query.urlencode(),
        "finding_total": investigation.findings.count(),
        "timeline": investigation_timeline(
            investigation, limit=timeline_limit(request.GET.get("timeline"))
        ),
        "is_owner": investigation.owner_id == request.user.pk,
        "can_write": can_write,
    }
    if can_write:
        context.update(
            note_form=NoteForm(),
            members_form=MembersForm(
                owner=investigation.owner,
                initial={"members": list(investigation.members.values_list("pk", flat=True))},
            ),
            assignee_form=AssigneeForm(
                investigation=investigation, initial={"assignee": investigation.assignee_id}
            ),
            **_triage_context(investigation),
            can_take=(
                investigation.assignee_id != request.user.pk
                and investigation.assignable_users().filter(pk=request.user.pk).exists()
            ),
            tags_form=TagsForm(initial={"tags": ", ".join(tag.name for tag in tags)}),
            # Suggestions only from investigations this user can see.
            known_tags=Tag.objects.filter(
                investigations__in=Investigation.objects.for_user(request.user)
            )
            .distinct()
            .order_by("name")
            .values_list("name", flat=True)[:500],
        )
    return render(request, "investigations/detail.html", context)


@require_http_methods(["GET", "POST"])
def run_create(request: HttpRequest, pk: int) -> HttpResponse:
    investigation = get_rw_investigation_for_user(request.user, pk)
    initial: dict[str, Any] = {"analyses": ["all"]}
    rerun_of = parse_id(request.GET.get("from"))
    if rerun_of is not None:
        # "Re-run with changes": the form starts from an earlier run of this investigation.
        previous = get_run_for_user(request.user, rerun_of)
        if previous.investigation_id == investigation.pk:
            initial = RunForm.initial_from_run(previous)
    with contextlib.suppress(BadAddress):  # no or a bad `target`: the form as it was
        # "Re-run with this address as the target", from a run's suggested next steps.
        initial["target_ips"] = parse_address(request.GET.get("target") or "")
    form = RunForm(request.POST or None, request.FILES or None, user=request.user, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            held = _held_uploads(request, investigation, form.cleaned_data.get("held_uploads"))
            reused = [] if form.cleaned_data.get("log_files") else held
            try:
                run = submit_run(
                    user=request.user,
                    **form.run_request(
                        investigation,
                        reused or _reused_uploads(request, investigation, form),
                    ).arguments(),
                    client_ip=client_ip_of(request),
                )
            except UploadRejected as exc:
                form.add_error("log_files", str(exc))
                status = 413 if exc.too_large else 400
            except RunRequestInvalid as exc:
                form.add_error(None, str(exc))
                status = 400
            else:
                _drop_held(held)  # the run read them through links of its own
                messages.success(request, f"Run #{run.pk} queued.")
                return redirect(run)
        else:
            status = 400
    held = _hold_uploads(request, investigation, form) if request.method == "POST" else []
    return render(
        request,
        "investigations/run_form.html",
        {
            "investigation": investigation,
            "form": form,
            "held": held,
            "reused_from": _reuse_offer(request, investigation, form),
        },
        status=status,
    )


def _held_uploads(request: HttpRequest, investigation: Any, value: Any) -> list[UploadedLog]:
    """The files this user uploaded with an earlier, refused form of this investigation (kept,
    not yet read by any run, not removed by retention)."""
    ids = [n for n in (parse_id(part) for part in str(value or "").split(",")) if n is not None]
    if not ids:
        return []
    return list(
        UploadedLog.objects.filter(
            pk__in=ids[:50],
            investigation=investigation,
            uploaded_by_id=request.user.pk,
            runs__isnull=True,
            purged_at__isnull=True,
        ).order_by("pk")
    )


def _hold_uploads(request: HttpRequest, investigation: Any, form: RunForm) -> list[UploadedLog]:
    """A refused form loses no file: the files it carried are stored now and named in the form,
    so the next submission reads them without a new pick. (A file refused for its content is
    not kept: its error says why.)"""
    held = _held_uploads(request, investigation, form.data.get("held_uploads"))
    files = request.FILES.getlist(form.add_prefix("log_files"))
    if files and not form.errors.get("log_files"):
        kept: list[UploadedLog] = []
        try:
            for upload in files:
                saved = store_upload(upload)
                kept.append(
                    UploadedLog.objects.create(
                        investigation=investigation,
                        uploaded_by=cast(Any, request.user),
                        original_name=display_name(getattr(upload, "name", "")),
                        storage_key=saved.storage_key,
                        size=saved.size,
                        sha256=saved.sha256,
                    )
                )
        except UploadRejected as exc:
            _drop_held(kept)
            form.add_error("log_files", str(exc))
        else:
            _drop_held(held)
            held = kept
    if isinstance(form.data, QueryDict):  # the POST, mutable copy (lists kept)
        data = form.data.copy()
        data[form.add_prefix("held_uploads")] = ",".join(str(u.pk) for u in held)
        form.data = data
    return held


def _drop_held(uploads: list[UploadedLog]) -> None:
    for upload in uploads:
        Path(upload.path).unlink(missing_ok=True)
        upload.delete()


def _reuse_offer(request: HttpRequest, investigation: Any, form: RunForm) -> Any:
    """The earlier run whose files the form offers to read again, if any (shown on the form)."""
    value = form.data.get("reuse_files_of") if form.is_bound else form.initial.get("reuse_files_of")
    run_id = parse_id(value)
    if run_id is None:
        return None
    # The investigation is one the user may write to, so its runs are theirs to see.
    return QueryRun.objects.filter(pk=run_id, investigation=investigation).first()


def _reused_uploads(request: HttpRequest, investigation: Any, form: RunForm) -> list[Any]:
    """ "Re-run with changes" with no new file: the uploads of the earlier run it started from
    (a run of this investigation the user may see), read again."""
    earlier = form.cleaned_data.get("reuse_files_of")
    if not earlier or form.cleaned_data.get("log_files"):
        return []
    run = get_run_for_user(request.user, earlier)
    if run.investigation_id != investigation.pk:
        raise Http404("No such run in this investigation.")
    return list(run.uploads.order_by("pk"))


def _results_context(run_pk: int) -> list[RunResult]:
    return list(RunResult.objects.filter(run_id=run_pk).order_by("position"))


@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_run_for_user(request.user, pk)
    can_write = (
        Investigation.objects.writable_by(request.user).filter(pk=run.investigation_id).exists()
    )
    results = _results_context(run.pk)
    address, address_error = None, ""
    if request.GET.get("ip", "").strip():
        try:
            address = parse_address(request.GET["ip"])
        except BadAddress as exc:
            address_error = str(exc)
    # Each table keeps its own sort and page in the run page's query (result-tables.js); it
    # shows its first rows, or a full page of the rows naming the address filtered on.
    tables = [
        result_table(
            run,
            result,
            sort=request.GET.get(f"{result.analysis}.sort"),
            page=request.GET.get(f"{result.analysis}.page"),
            address=address,
            size=RESULT_PAGE_SIZE if address else FIRST_ROWS,
        )
        for result in results
    ]
    context: dict[str, Any] = {
        "run": run,
        "tables": tables,
        "can_write": can_write,
        "summary": run_summary(run, can_write=can_write),
        "address": address,
        "address_error": address_error,
        "address_input": request.GET.get("ip", "").strip()[:100],
        "address_matches": sum(t.page.paginator.count for t in tables) if address else None,
        "uploads": run.uploads.order_by("pk"),
        # Every finding this run saw, also those an earlier run of the investigation raised.
        "findings": with_sightings(
            sighted_in(Finding.objects.all(), run).select_related("assignee", "last_run")
        ).order_by("-severity", "-last_seen", "-id"),
        "result_names": {result.analysis for result in results},
    }
    if can_write:
        context.update(_triage_context(run.investigation))
    return render(
        request, "investigations/run_detail.html", context, status=400 if address_error else 200
    )


@require_GET
def run_progress(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_run_for_user(request.user, pk)
    response = render(request, "investigations/_run_progress.html", {"run": run})
    if not run.is_active and request.headers.get("HX-Request"):
        # Finished: reload the whole page so the result tables appear.
        response["HX-Refresh"] = "true"
    return response


@require_GET
def run_result(request: HttpRequest, pk: int, analysis: str) -> HttpResponseBase:
    run = get_run_for_user(request.user, pk)
    result = RunResult.objects.filter(run=run, analysis=analysis).first()
    if result is None:
        raise Http404("This run has no such result.")
    export = request.GET.get("format")
    if export:
        rows = result.rows.order_by("position").values_list("data", flat=True)
        return export_rows(result, rows, export)
    address = None
    if request.GET.get("ip", "").strip():
        try:
            address = parse_address(request.GET["ip"])
        except BadAddress as exc:
            return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    table = result_table(
        run,
        result,
        sort=request.GET.get("sort"),
        page=request.GET.get("page"),
        address=address,
        size=page_size(request.GET.get("size")),
    )
    template = (
        "investigations/_result_table.html"
        if request.headers.get("HX-Request")
        else "investigations/result_page.html"
    )
    return render(
        request, template, {"run": run, "result": result, "table": table, "page": table.page}
    )


@require_GET
def run_compare(request: HttpRequest, pk: int) -> HttpResponse:
    """Two runs side by side: per shared analysis, the rows added, removed and changed."""
    run = get_run_for_user(request.user, pk)
    chosen = request.GET.get("with", "").strip()
    other_pk = parse_run_id(chosen)
    error = ""
    other: QueryRun | None = None
    if not chosen:
        other = default_counterpart(run, request.user)
    elif other_pk is None:
        error = "Pick a run to compare with."
    else:
        other = get_run_for_user(request.user, other_pk)  # 404 if the user cannot read it
        if other.pk == run.pk:
            error, other = "Pick a different run: a run has no differences with itself.", None
    comparison = compare_runs(*order_runs(run, other)) if other is not None else None
    same, others = compare_candidates(run, request.user)
    return render(
        request,
        "investigations/run_compare.html",
        {
            "run": run,
            "other": other,
            "comparison": comparison,
            "error": error,
            "same_investigation": same,
            "other_investigations": others,
        },
        status=400 if error else 200,
    )


@require_POST
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_rw_run_for_user(request.user, pk)
    try:
        cancel_run(user=request.user, run=run, client_ip=client_ip_of(request))
        messages.info(request, f"Cancellation of run #{run.pk} requested.")
    except RunRequestInvalid as exc:
        messages.error(request, str(exc))
    return redirect(run)


@require_POST
def note_add(request: HttpRequest, pk: int) -> HttpResponse:
    investigation = get_rw_investigation_for_user(request.user, pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        add_note(
            user=request.user,
            investigation=investigation,
            text=form.cleaned_data["text"],
            client_ip=client_ip_of(request),
        )
        messages.success(request, "Note added.")
    else:
        messages.error(request, "A note needs some text.")
    return redirect(investigation)


@require_POST
def investigation_status(request: HttpRequest, pk: int) -> HttpResponse:
    investigation = get_rw_investigation_for_user(request.user, pk)
    try:
        set_investigation_status(
            user=request.user,
            investigation=investigation,
            status=request.POST.get("status", ""),
            client_ip=client_ip_of(request),
        )
        messages.success(request, f"Investigation {investigation.get_status_display().lower()}.")
    except RunRequestInvalid as exc:
        messages.error(request, str(exc))
    return redirect(investigation)


@require_POST
def investigation_members(request: HttpRequest, pk: int) -> HttpResponse:
    investigation = get_rw_investigation_for_user(request.user, pk)
    form = MembersForm(request.POST, owner=investigation.owner)
    if not form.is_valid():
        messages.error(request, "Pick analysts to share with.")
        return redirect(investigation)
    set_members(
        user=request.user,
        investigation=investigation,
        members=form.cleaned_data["members"],
        client_ip=client_ip_of(request),
    )
    messages.success(request, "Sharing updated.")
    return redirect(investigation)


@require_POST
def investigation_assignee(request: HttpRequest, pk: int) -> HttpResponse:
    investigation = get_rw_investigation_for_user(request.user, pk)

    def save(data: dict[str, Any]) -> str:
        set_assignee(
            user=request.user,
            investigation=investigation,
            assignee=data["assignee"],
            client_ip=client_ip_of(request),
        )
        assignee = investigation.assignee
        return (
            f"Assigned to {assignee.get_username()}."
            if assignee is not None
            else "Investigation unassigned."
        )

    form = AssigneeForm(request.POST, investigation=investigation)
    return _change_investigation(request, investigation, form, "assignee", "Pick one.", save)


@require_POST
def investigation_tags(request: HttpRequest, pk: int) -> HttpResponse:
    investigation = get_rw_investigation_for_user(request.user, pk)

    def save(data: dict[str, Any]) -> str:
        set_tags(
            user=request.user,
            investigation=investigation,
            names=data["tags"],
            client_ip=client_ip_of(request),
        )
        return "Tags saved."

    form = TagsForm(request.POST)
    return _change_investigation(request, investigation, form, "tags", "Check the tags.", save)


def _change_investigation(
    request: HttpRequest,
    investigation: Investigation,
    form: forms.Form,
    field: str,
    fallback: str,
    save: Callable[[dict[str, Any]], str],
) -> HttpResponse:
    """Validate a one-field form, save it through the service and say what happened."""
    if not form.is_valid():
        messages.error(request, " ".join(map(str, form.errors.get(field) or [fallback])))
    else:
        try:
            messages.success(request, save(form.cleaned_data))
        except RunRequestInvalid as exc:
            messages.error(request, str(exc))
    return redirect(investigation)


@require_GET
def run_history(request: HttpRequest) -> HttpResponse:
    """Every run the user may see, across investigations: the managers' review page."""
    form = RunFilterForm(request.GET or None, user=request.user)
    runs: QuerySet[QueryRun] = (
        QueryRun.objects.for_user(request.user)
        .select_related("investigation", "requested_by")
        .order_by("-created_at", "-id")
    )
    if request.GET:
        runs = form.filter(runs)
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "investigations/history.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


@require_http_methods(["GET", "POST"])
def reference_list(request: HttpRequest) -> HttpResponse:
    """Every reference table, and the upload form for analysts and admins."""
    can_upload = can_manage_reference_tables(request.user)
    form = ReferenceUploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if not can_upload:
            raise PermissionDenied("Only analysts and admins upload reference tables.")
        if form.is_valid():
            try:
                version = upload_reference_version(
                    user=request.user,
                    kind=form.cleaned_data["kind"],
                    name=form.cleaned_data["name"],
                    upload=form.cleaned_data["file"],
                    description=form.cleaned_data["description"],
                    client_ip=client_ip_of(request),
                )
            except ReferenceUploadRejected as exc:
                form.add_error("file", str(exc))
            else:
                messages.success(request, f"{version} uploaded: {version.row_count:,} rows.")
                return redirect(version.table)
        status = 400
    tables = ReferenceTable.objects.annotate(version_count=Count("versions")).order_by(
        "kind", "name"
    )
    return render(
        request,
        "investigations/reference_list.html",
        {"tables": tables, "form": form, "can_upload": can_upload},
        status=status,
    )


PREVIEW_ROWS = 50


@require_GET
def reference_detail(request: HttpRequest, pk: int) -> HttpResponse:
    table = get_object_or_404(ReferenceTable, pk=pk)
    versions = list(
        table.versions.select_related("uploaded_by")
        .annotate(run_count=Count("runs"))
        .order_by("-number")
    )
    latest = versions[0] if versions else None
    preview: list[list[Any]] = []
    if latest is not None:
        data = latest.data
        items = list(data.items()) if isinstance(data, dict) else data
        if table.kind == ReferenceKind.AS_DATABASE:
            items = list(data.get("preview") or []) if isinstance(data, dict) else []
        for item in items[:PREVIEW_ROWS]:
            if table.kind == ReferenceKind.CIDR:
                cidr, labels = item
                preview.append([cidr, ", ".join(f"{k}={v}" for k, v in labels.items())])
            else:
                preview.append(list(item))
    headers = {
        ReferenceKind.LOOKUP: ["dstport", "protocol", "tag"],
        ReferenceKind.CIDR: ["cidr", "labels"],
        ReferenceKind.KNOWN_HOSTS: ["ip", "alias"],
        ReferenceKind.AS_DATABASE: ["range", "AS number", "organisation", "country"],
    }[ReferenceKind(table.kind)]
    used_by = (
        QueryRun.objects.for_user(request.user)
        .filter(reference_versions__table=table)
        .distinct()
        .select_related("investigation")
        .order_by("-created_at")[:50]
    )
    return render(
        request,
        "investigations/reference_detail.html",
        {
            "table": table,
            "versions": versions,
            "latest": latest,
            "preview": preview,
            "headers": headers,
            "used_by": used_by,
            "form": ReferenceUploadForm(initial={"kind": table.kind, "name": table.name}),
            "can_upload": can_publish_version(request.user, table),
            "can_change_sharing": can_change_sharing(request.user, table),
        },
    )


@require_POST
def reference_sharing(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner (or an admin) lets every analyst publish versions of the table, or stops it."""
    table = get_object_or_404(ReferenceTable, pk=pk)
    shared = request.POST.get("shared_editable") == "on"
    set_shared_editable(
        user=request.user, table=table, shared_editable=shared, client_ip=client_ip_of(request)
    )
    messages.success(
        request,
        "Every analyst may now publish versions."
        if shared
        else "Only you and admins publish versions now.",
    )
    return redirect(table)


FINDINGS_PAGE = 50


def _triage_context(investigation: Investigation) -> dict[str, Any]:
    """What a finding's triage controls offer: the statuses and who may be assigned."""
    return {
        "finding_statuses": FindingStatus.choices,
        "assignable": list(investigation.assignable_users()),
    }


def _back(request: HttpRequest, fallback: str) -> str:
    """Where a triage form came from (`next`), if it is a page of this site."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _form_error(form: forms.Form) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


@require_POST
def finding_triage(request: HttpRequest, pk: int) -> HttpResponse:
    """One finding's status, assignee and comment; htmx gets the finding back, in place."""
    finding = get_rw_finding_for_user(request.user, pk)
    investigation = finding.investigation
    form = FindingTriageForm(request.POST, investigation=investigation)
    error = ""
    if not form.is_valid():
        error = _form_error(form)
    else:
        try:
            finding = triage_findings(
                user=request.user,
                findings=[finding],
                **form.changes(),
                client_ip=client_ip_of(request),
            )[0]
        except RunRequestInvalid as exc:
            error = str(exc)
    if request.headers.get("HX-Request"):
        finding = with_sightings(Finding.objects.select_related("assignee", "last_run")).get(
            pk=finding.pk
        )
        return render(
            request,
            "investigations/_finding.html",
            {
                "f": finding,
                "can_write": True,
                "triage_error": error,
                "triage_saved": not error,
                "next": _back(request, ""),
                **_triage_context(investigation),
            },
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Finding “{finding.title}” triaged.")
    return redirect(_back(request, f"{investigation.get_absolute_url()}#finding-{finding.pk}"))


@require_POST
def findings_triage(request: HttpRequest, pk: int) -> HttpResponse:
    """Bulk triage: the same status, assignee or comment for every selected finding."""
    investigation = get_rw_investigation_for_user(request.user, pk)
    back = _back(request, f"{investigation.get_absolute_url()}#findings")
    wanted = {n for n in map(parse_id, request.POST.getlist("finding")) if n is not None}
    findings = list(investigation.findings.filter(pk__in=wanted).select_related("investigation"))
    form = FindingTriageForm(request.POST, investigation=investigation)
    if len(findings) != len(wanted) or len(wanted) != len(request.POST.getlist("finding")):
        messages.error(request, "Some selected findings are not in this investigation.")
    elif not form.is_valid():
        messages.error(request, _form_error(form))
    else:
        try:
            triage_findings(
                user=request.user,
                findings=findings,
                **form.changes(),
                client_ip=client_ip_of(request),
            )
        except RunRequestInvalid as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{len(findings)} finding{pluralize(len(findings))} triaged.")
    return redirect(back)


def _traffic_bars(
    hours: list[dict[str, Any]], *, width: int = 600, height: int = 120
) -> list[dict[str, Any]]:
    """SVG bar geometry for bytes out (up) and in (down) per hour, scaled to the busiest hour."""
    if not hours:
        return []
    top = max(max(h["bytes_out"], h["bytes_in"]) for h in hours) or 1
    step = width / len(hours)
    half = height / 2
    bars = []
    for index, hour in enumerate(hours):
        out = round(hour["bytes_out"] / top * (half - 2), 1)
        into = round(hour["bytes_in"] / top * (half - 2), 1)
        bars.append(
            {
                "x": round(index * step, 1),
                "w": max(round(step - 1, 1), 0.5),
                "out_y": round(half - out, 1),
                "out_h": out,
                "in_h": into,
                "hour": hour["hour"],
                "bytes_out": hour["bytes_out"],
                "bytes_in": hour["bytes_in"],
            }
        )
    return bars


@require_GET
def entity_detail(request: HttpRequest, address: str) -> HttpResponse:
    """One address across every run and investigation the user may see."""
    try:
        report = entity_report(request.user, address)
    except BadAddress as exc:
        return render(
            request,
            "investigations/entity.html",
            {"error": str(exc), "address": address},
            status=400,
        )
    for cached in report.cached:
        cached.activity["bars"] = _traffic_bars(cached.activity["hours"])
    return render(
        request, "investigations/entity.html", {"report": report, "address": report.address}
    )


@require_GET
def detection_catalogue(request: HttpRequest) -> HttpResponse:
    """Every detection: what it looks for, its ATT&CK ids, severity and parameters."""
    from analysis.detections import catalogue

    return render(request, "investigations/detections.html", {"detections": catalogue()})
