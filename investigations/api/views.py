"""API views: the same scoped querysets and service functions as the pages."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from django.core.paginator import EmptyPage, Paginator
from django.db.models import QuerySet
from django.http import Http404
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.detections.base import TACTICS
from investigations.access import get_run_for_user
from investigations.api.params import id_param
from investigations.api.serializers import (
    DetectionCatalogueSerializer,
    FindingSerializer,
    FindingSightingSerializer,
    FindingStatusSerializer,
    InvestigationSerializer,
    InvestigationUpdateSerializer,
    NoteSerializer,
    QueryRunCreateSerializer,
    QueryRunSerializer,
    ReferenceSharingSerializer,
    ReferenceTableSerializer,
    ReferenceUploadSerializer,
    ReferenceVersionSerializer,
    ResultPageSerializer,
    RunComparisonSerializer,
    RunResultSummarySerializer,
)
from investigations.choices import FindingStatus, InvestigationStatus
from investigations.compare import API_SHOW_LIMIT, compare_runs, order_runs, parse_run_id
from investigations.entities import BadAddress, entity_report
from investigations.exports import EXPORT_FORMATS, export_rows
from investigations.filtersets import InvestigationFilterForm, RunFilterForm
from investigations.models import Finding, Investigation, QueryRun, ReferenceTable, RunResult
from investigations.ocsf import detection_finding
from investigations.reference import (
    ReferenceUploadRejected,
    set_shared_editable,
    upload_reference_version,
)
from investigations.resulttables import parse_sort, sorted_rows
from investigations.runs.submit import cancel_run, submit_run, submit_run_idempotent
from investigations.services import (
    UNCHANGED,
    RunRequestInvalid,
    add_note,
    assignee_named,
    create_investigation,
    triage_findings,
    update_investigation,
)
from investigations.sightings import sighted_in, tactic_filter
from investigations.uploads import UploadRejected
from portal.api.changes import change_feed, change_page_serializer
from portal.api.permissions import TokenHasScope, hidden_analyses
from portal.api.schema import DetailSerializer
from portal.audit import client_ip_of
from portal.idempotency import IdempotencyConflict
from portal.models import ApiToken


def _token_id(request: Request) -> int | None:
    return request.auth.pk if isinstance(request.auth, ApiToken) else None


FILTER_PARAMS = frozenset(InvestigationFilterForm.base_fields)


class PayloadTooLarge(serializers.ValidationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class InvestigationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    http_method_names = ["get", "post", "patch", "head", "options"]
    serializer_class = InvestigationSerializer
    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {
        "GET": "read:investigations",
        "POST": "write:investigations",
        "PATCH": "write:investigations",
    }

    @extend_schema(request=InvestigationUpdateSerializer, responses={200: InvestigationSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change the status (`open`/`closed`), the assignee and the tags (the whole list);
        owners and members with the analyst role. All given fields change, or none."""
        investigation = self.get_object()
        body = InvestigationUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            changes: dict[str, Any] = {
                name: data[name] for name in ("status", "tags") if name in data
            }
            if "assignee" in data:
                changes["assignee"] = assignee_named(investigation, data["assignee"])
            investigation = update_investigation(
                user=request.user,
                investigation=investigation,
                client_ip=client_ip_of(request),
                api_token_id=_token_id(request),
                **changes,
            )
        except RunRequestInvalid as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        return Response(InvestigationSerializer(self.get_queryset().get(pk=investigation.pk)).data)

    @extend_schema(methods=["GET"], request=None, responses={200: NoteSerializer(many=True)})
    @extend_schema(methods=["POST"], request=NoteSerializer, responses={201: NoteSerializer})
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def notes(self, request: Request, pk: str | None = None) -> Response:
        investigation = self.get_object()
        if request.method == "POST":
            body = NoteSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            try:
                note = add_note(
                    user=request.user,
                    investigation=investigation,
                    text=body.validated_data["text"],
                    client_ip=client_ip_of(request),
                    api_token_id=_token_id(request),
                )
            except RunRequestInvalid as exc:
                raise serializers.ValidationError({"text": str(exc)}) from exc
            return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)
        notes = investigation.notes.select_related("author")
        return Response(NoteSerializer(notes, many=True).data)

    def get_queryset(self) -> Any:
        """Filters as on the investigations page: `q`, `status`, `owner`, `assignee` (`me`,
        `none` or a username), `tag`, `account` (id), `since` (YYYY-MM-DD)."""
        investigations: QuerySet[Investigation] = (
            Investigation.objects.for_user(self.request.user)
            .select_related("owner", "assignee")
            .prefetch_related("members", "tags")
            .order_by("-updated_at", "-id")
        )
        if self.action == "list" and set(self.request.query_params) & FILTER_PARAMS:
            form = InvestigationFilterForm(self.request.query_params, user=self.request.user)
            if not form.is_valid():
                raise serializers.ValidationError(form.errors)
            investigations = form.filter(investigations)
        return investigations

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Words in the title or description."),
            OpenApiParameter("status", str, enum=list(InvestigationStatus.values)),
            OpenApiParameter("owner", str, description="Part of the owner's username."),
            OpenApiParameter(
                "assignee", str, description="`me`, `none` (unassigned) or a username."
            ),
            OpenApiParameter("tag", str, description="A tag name."),
            OpenApiParameter("account", int, description="Runs read this AWS account (its id)."),
            OpenApiParameter("since", OpenApiTypes.DATE, description="Updated on or after."),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        try:
            # No members yet, so the owner is the only one who can be assigned at creation.
            serializer.instance = create_investigation(
                user=self.request.user,
                title=data["title"],
                description=data.get("description", ""),
                tags=data.get("tags", []),
                assignee=assignee_named(None, data.get("assignee")),
                client_ip=client_ip_of(self.request),
                api_token_id=_token_id(self.request),
            )
        except RunRequestInvalid as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc


class QueryRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = QueryRunSerializer
    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:investigations", "POST": "write:runs"}

    def get_queryset(self) -> Any:
        """Filters as on the history page: `analyst`, `analysis`, `status`, `account` (id of
        a registered AWS account), `investigation`, `since`, `until` (YYYY-MM-DD)."""
        runs: QuerySet[QueryRun] = (
            QueryRun.objects.for_user(self.request.user)
            .select_related("requested_by")
            .prefetch_related("results")
            .order_by("-created_at", "-id")
        )
        if self.request.query_params and self.action == "list":
            form = RunFilterForm(self.request.query_params, user=self.request.user)
            if not form.is_valid():
                raise serializers.ValidationError(form.errors)
            runs = form.filter(runs)
        return runs

    @extend_schema(
        request={"multipart/form-data": QueryRunCreateSerializer},
        responses={
            202: QueryRunSerializer,
            422: OpenApiResponse(
                DetailSerializer,
                description="The Idempotency-Key was used for a different request.",
            ),
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = QueryRunCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        submission: dict[str, Any] = {
            **serializer.run_request().arguments(),
            "client_ip": client_ip_of(request),
            "api_token_id": _token_id(request),
        }
        key = request.headers.get("Idempotency-Key")
        replayed = False
        try:
            if key is not None:
                run, replayed = submit_run_idempotent(
                    user=request.user, idempotency_key=key, **submission
                )
            else:
                run = submit_run(user=request.user, **submission)
        except IdempotencyConflict as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        except UploadRejected as exc:
            if exc.too_large:
                raise PayloadTooLarge({"files": [str(exc)]}) from exc
            raise serializers.ValidationError({"files": [str(exc)]}) from exc
        except RunRequestInvalid as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        body = QueryRunSerializer(run, context={"request": request}).data
        headers = {"Location": run.get_absolute_url()}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(body, status=status.HTTP_202_ACCEPTED, headers=headers)

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("limit", int)],
        responses={200: change_page_serializer("RunChangePage", QueryRunSerializer)},
    )
    @action(detail=False, methods=["get"])
    def changes(self, request: Request) -> Response:
        """Status changes of runs, each exactly once, in commit order."""
        return change_feed(
            self.get_queryset(), request, QueryRunSerializer, self.get_serializer_context()
        )

    @extend_schema(
        request=None,
        responses={
            200: QueryRunSerializer,
            409: OpenApiResponse(DetailSerializer, description="The run has already finished."),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        try:
            run = cancel_run(
                user=request.user,
                run=run,
                client_ip=client_ip_of(request),
                api_token_id=_token_id(request),
            )
        except RunRequestInvalid as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(QueryRunSerializer(run, context={"request": request}).data)

    @extend_schema(
        operation_id="runs_results_list", responses={200: RunResultSummarySerializer(many=True)}
    )
    @action(detail=True, methods=["get"], url_path="results", pagination_class=None)
    def results(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        results = (
            RunResult.objects.filter(run=run)
            .exclude(analysis__in=hidden_analyses(request))
            .order_by("position")
        )
        return Response(
            RunResultSummarySerializer(results, many=True, context={"request": request}).data
        )

    @extend_schema(
        operation_id="runs_compare",
        parameters=[
            OpenApiParameter(
                "with",
                int,
                required=True,
                description="The run to compare with: any run you can read. The earlier of the two "
                "is `before`.",
            )
        ],
        responses={200: RunComparisonSerializer},
    )
    @action(detail=True, methods=["get"])
    def compare(self, request: Request, pk: str | None = None) -> Response:
        """Per analysis both runs have: rows added, removed and changed (same group, other
        flows/packets/bytes…), rows matched on their key columns. Lists are capped at
        1,000 rows of each kind; the counts are not."""
        run = self.get_object()
        other_pk = parse_run_id(request.query_params.get("with"))
        if other_pk is None:
            raise serializers.ValidationError({"with": ["Give the id of a run to compare with."]})
        other = get_run_for_user(request.user, other_pk)  # 404 when the caller cannot read it
        if other.pk == run.pk:
            raise serializers.ValidationError({"with": ["Pick a different run."]})
        comparison = compare_runs(*order_runs(run, other), show_limit=API_SHOW_LIMIT)
        hidden = hidden_analyses(request)
        if hidden:  # a token without read:findings sees no detection rows, here either
            comparison.analyses = [a for a in comparison.analyses if a.analysis not in hidden]
            comparison.only_before = [o for o in comparison.only_before if o[0] not in hidden]
            comparison.only_after = [o for o in comparison.only_after if o[0] not in hidden]
        return Response(RunComparisonSerializer(comparison).data)


class RunResultViewSet(viewsets.ViewSet):
    """Rows of one analysis of one run, paged (`?page=`, `?page_size=` up to 1000)."""

    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:investigations"}

    @extend_schema(
        operation_id="runs_result_rows",
        parameters=[
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
            OpenApiParameter(
                "sort",
                str,
                description="Order every row by a column before paging: "
                "`bytes` ascending, `-bytes` descending; "
                "unknown columns keep the rank order. "
                "Downloads always come in rank order.",
            ),
            OpenApiParameter(
                "format",
                str,
                enum=list(EXPORT_FORMATS),
                description="Download every row instead of a page.",
            ),
        ],
        responses={200: ResultPageSerializer},
    )
    def retrieve(self, request: Request, run_pk: str, analysis: str) -> Response:
        run = QueryRun.objects.for_user(request.user).filter(pk=run_pk).first()
        if run is None:
            raise Http404("No such run.")
        if analysis in hidden_analyses(request):
            raise PermissionDenied(
                "Detection rows are findings: this API token needs the read:findings scope as well."
            )
        result = RunResult.objects.filter(run=run, analysis=analysis).first()
        if result is None:
            raise Http404("This run has no such result.")
        try:
            size = max(1, min(1000, int(request.query_params.get("page_size", 100))))
            number = int(request.query_params.get("page", 1))
        except ValueError:
            return Response({"detail": "page and page_size must be integers."}, status=400)
        rows = result.rows.order_by("position").values_list("data", flat=True)
        export = request.query_params.get("format")
        if export:
            return export_rows(result, rows, export)
        rows = sorted_rows(result, parse_sort(result, request.query_params.get("sort")))
        paginator = Paginator(rows, size)
        try:
            page = paginator.page(number)
        except EmptyPage:
            raise Http404("No such page.") from None
        return Response(
            {
                "run": run.pk,
                "analysis": result.analysis,
                "title": result.title,
                "columns": result.columns,
                "total_groups": result.total_groups,
                "row_count": result.row_count,
                "truncated": result.truncated,
                "summary": result.summary,
                "page": page.number,
                "pages": paginator.num_pages,
                "rows": list(page.object_list),
            }
        )


class FindingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Findings the caller can see, one per identity in an investigation (a later run that sees
    one again adds a sighting: `findings/<id>/sightings/`). Filters: `investigation`, `run`
    (findings that run saw), `type`, `identity`, `tactic`, `status`, `min_severity`,
    `updated_since` (ISO time); ordered by (`updated_at`, `id`).
    For polling, use `changes/?cursor=`: every change exactly once, in commit order."""

    serializer_class = FindingSerializer
    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:findings", "PATCH": "write:investigations"}
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("limit", int)],
        responses={200: change_page_serializer("FindingChangePage", FindingSerializer)},
    )
    @action(detail=False, methods=["get"])
    def changes(self, request: Request) -> Response:
        return change_feed(
            self.get_queryset(), request, FindingSerializer, self.get_serializer_context()
        )

    @extend_schema(
        parameters=[OpenApiParameter("page", int)],
        responses={
            200: inline_serializer(
                "PaginatedFindingSightingList",
                fields={
                    "count": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": FindingSightingSerializer(many=True),
                },
            )
        },
    )
    @action(detail=True, methods=["get"])
    def sightings(self, request: Request, pk: str | None = None) -> Response:
        """Every run that saw this finding, latest first: its times, severity and evidence."""
        finding = self.get_object()
        page = self.paginate_queryset(finding.sightings.order_by("-run_id", "-id"))
        return self.get_paginated_response(FindingSightingSerializer(page, many=True).data)

    @extend_schema(request=FindingStatusSerializer, responses={200: FindingSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Triage: set `status` (open, acknowledged, false_positive, resolved), `assignee`
        (the investigation's owner or a member, by username; empty unassigns) and/or add a
        `comment`."""
        finding = self.get_object()
        body = FindingStatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            assignee = (
                assignee_named(finding.investigation, data["assignee"])
                if "assignee" in data
                else UNCHANGED
            )
            finding = triage_findings(
                user=request.user,
                findings=[finding],
                status=data.get("status"),
                assignee=assignee,
                comment=data.get("comment") or "",
                client_ip=client_ip_of(request),
                api_token_id=_token_id(request),
            )[0]
        except RunRequestInvalid as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        return Response(FindingSerializer(finding).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["json", "ocsf"]),
            OpenApiParameter("investigation", int, description="Findings of this investigation."),
            OpenApiParameter("run", int, description="Findings a run saw (raised, or saw again)."),
            OpenApiParameter("type", str, description="A finding type, e.g. `Recon:EC2/Portscan`."),
            OpenApiParameter("identity", str, description="One finding identity."),
            OpenApiParameter(
                "tactic", str, enum=list(TACTICS), description="An ATT&CK tactic id it maps to."
            ),
            OpenApiParameter("status", str, enum=list(FindingStatus.values)),
            OpenApiParameter("min_severity", float),
            OpenApiParameter(
                "updated_since", OpenApiTypes.DATETIME, description="Changed after this time."
            ),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if request.query_params.get("format") == "ocsf":
            page = self.paginate_queryset(self.get_queryset().select_related("run"))
            return self.get_paginated_response([detection_finding(f) for f in page or []])
        return super().list(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        findings: QuerySet[Finding] = (
            Finding.objects.for_user(self.request.user)
            .select_related("run", "assignee")
            .order_by("updated_at", "id")
        )
        params = self.request.query_params
        investigation = id_param(params, "investigation", message="Must be an integer id.")
        if investigation is not None:
            findings = findings.filter(investigation_id=investigation)
        run = id_param(params, "run", message="Must be an integer id.")
        if run is not None:
            findings = sighted_in(findings, run)
        if params.get("type"):
            findings = findings.filter(type=params["type"])
        if params.get("identity"):
            findings = findings.filter(identity=params["identity"])
        if params.get("tactic"):
            if params["tactic"] not in TACTICS:
                raise serializers.ValidationError(
                    {"tactic": f"Unknown ATT&CK tactic; one of {', '.join(TACTICS)}."}
                )
            findings = findings.filter(tactic_filter(params["tactic"]))
        if params.get("status"):
            findings = findings.filter(status=params["status"])
        if params.get("min_severity"):
            try:
                findings = findings.filter(severity__gte=float(params["min_severity"]))
            except ValueError as exc:
                raise serializers.ValidationError({"min_severity": "Must be a number."}) from exc
        if params.get("updated_since"):
            try:
                since = parse_datetime(params["updated_since"])
                # In UTC, as the database compares it (an offset past ±14 h is no real zone).
                offset = since.utcoffset() if since is not None else None
                if since is None or (offset is not None and abs(offset) > timedelta(hours=14)):
                    raise ValueError(params["updated_since"])
                if offset is not None:
                    since = since.astimezone(UTC)
            except (ValueError, OverflowError) as exc:
                raise serializers.ValidationError(
                    {"updated_since": "Must be an ISO 8601 date-time."}
                ) from exc
            findings = findings.filter(updated_at__gt=since)
        return findings


class ReferenceTableViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Reference tables. POST (multipart: kind, name, description, file) uploads a version —
    creating the table on first upload; a bad row is a 400 naming its line."""

    serializer_class = ReferenceTableSerializer
    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {
        "GET": "read:investigations",
        "POST": "write:investigations",
        "PATCH": "write:investigations",
    }
    queryset = ReferenceTable.objects.select_related("created_by").order_by("kind", "name")

    @extend_schema(request=ReferenceSharingSerializer, responses={200: ReferenceTableSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The owner (or an admin) lets every analyst publish versions: `shared_editable`."""
        table = self.get_object()
        body = ReferenceSharingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        table = set_shared_editable(
            user=request.user,
            table=table,
            shared_editable=body.validated_data["shared_editable"],
            client_ip=client_ip_of(request),
            api_token_id=_token_id(request),
        )
        return Response(ReferenceTableSerializer(table).data)

    @extend_schema(
        request={"multipart/form-data": ReferenceUploadSerializer},
        responses={201: ReferenceVersionSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = ReferenceUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            data = body.validated_data
            version = upload_reference_version(
                user=request.user,
                kind=data["kind"],
                name=data["name"],
                description=data["description"],
                upload=data["file"],
                client_ip=client_ip_of(request),
                api_token_id=_token_id(request),
            )
        except ReferenceUploadRejected as exc:
            raise serializers.ValidationError({"file": [str(exc)]}) from exc
        return Response(ReferenceVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: ReferenceVersionSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)
    def versions(self, request: Request, pk: str | None = None) -> Response:
        table = self.get_object()
        return Response(
            ReferenceVersionSerializer(
                table.versions.select_related("table", "uploaded_by"), many=True
            ).data
        )


class EntityTotalsSerializer(serializers.Serializer):
    flows = serializers.IntegerField()
    packets = serializers.IntegerField()
    bytes = serializers.IntegerField()
    first_seen = serializers.DateTimeField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)


class EntityPeerSerializer(serializers.Serializer):
    peer = serializers.CharField()
    port = serializers.IntegerField(allow_null=True)
    protocol = serializers.IntegerField(allow_null=True)
    flows = serializers.IntegerField()
    packets = serializers.IntegerField()
    bytes = serializers.IntegerField()


class EntityHourSerializer(serializers.Serializer):
    hour = serializers.DateTimeField()
    bytes_out = serializers.IntegerField()
    bytes_in = serializers.IntegerField()


class EntityTrafficSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    source = serializers.CharField()
    peers_in = EntityPeerSerializer(many=True)
    peers_out = EntityPeerSerializer(many=True)
    hours = EntityHourSerializer(many=True)

    def get_fields(self) -> dict[str, Any]:
        # `in` is a Python keyword: added here rather than as class attributes.
        return {
            **super().get_fields(),
            "in": EntityTotalsSerializer(),
            "out": EntityTotalsSerializer(),
        }


class EntityLabelSerializer(serializers.Serializer):
    source = serializers.CharField()
    label = serializers.CharField()
    run = serializers.IntegerField(allow_null=True)


class EntityMentionSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    investigation = serializers.IntegerField()
    analysis = serializers.CharField()
    rows = serializers.IntegerField()


class EntityReportSerializer(serializers.Serializer):
    """Documents an entity report (the view builds the answer)."""

    address = serializers.CharField()
    first_seen = serializers.DateTimeField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)
    labels = EntityLabelSerializer(many=True)
    findings = FindingSerializer(many=True)
    findings_total = serializers.IntegerField()
    runs = EntityMentionSerializer(many=True)
    runs_truncated = serializers.BooleanField()
    traffic = EntityTrafficSerializer(many=True)
    stored_results_only = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Runs mentioning it whose flow-cache entry is gone.",
    )


class EntityView(APIView):
    """What the portal knows about one address across the runs and investigations the caller
    may see: labels, findings naming it, runs whose stored results mention it, first and last
    seen, and its traffic from flow-cache entries that still exist (`source` says which).
    A bad address is a 400 saying why."""

    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:investigations"}

    @extend_schema(
        responses={
            200: EntityReportSerializer,
            400: OpenApiResponse(DetailSerializer, description="Not an IP address."),
        }
    )
    def get(self, request: Request, address: str) -> Response:
        try:
            report = entity_report(request.user, address)
        except BadAddress as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        findings, findings_total = report.findings, report.findings_total
        if "detections" in hidden_analyses(request):
            # A token without read:findings sees no findings here either.
            findings, findings_total = [], 0
        return Response(
            {
                "address": report.address,
                "first_seen": report.first_seen,
                "last_seen": report.last_seen,
                "labels": [
                    {"source": label.source, "label": label.text, "run": label.run_id}
                    for label in report.labels
                ],
                "findings": FindingSerializer(findings, many=True).data,
                "findings_total": findings_total,
                "runs": [
                    {
                        "run": m.run_id,
                        "investigation": m.investigation_id,
                        "analysis": m.analysis,
                        "rows": m.rows,
                    }
                    for m in report.mentions
                ],
                "runs_truncated": report.mentions_truncated,
                "traffic": [
                    {
                        "run": cached.run.pk,
                        "source": "flow cache",
                        **{key: value for key, value in cached.activity.items() if key != "bars"},
                    }
                    for cached in report.cached
                ],
                "stored_results_only": report.uncached_runs,
            }
        )


class DetectionViewSet(viewsets.ViewSet):
    """The detection catalogue: id, finding type, what it looks for, MITRE ATT&CK tactics and
    techniques, severity and how it rises, parameters with defaults and meanings (set them
    as run `thresholds`)."""

    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:findings"}

    @extend_schema(responses={200: DetectionCatalogueSerializer})
    def list(self, request: Request) -> Response:
        from analysis.detections import catalogue

        return Response({"count": len(catalogue()), "results": catalogue()})
