"""API for watches and their alerts, through the same services as the pages. Reads need
`read:investigations`; making, changing, pausing, resuming and deleting watches `write:runs`
(a watch starts runs)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from investigations.api.params import id_param
from investigations.models import Investigation, QueryRun
from investigations.services import RunRequestInvalid
from investigations.watches import services
from investigations.watches.models import AlertKind, Watch, WatchAlert
from portal.api.changes import change_feed, change_page_serializer
from portal.api.permissions import TokenHasScope
from portal.audit import client_ip_of
from portal.models import ApiToken


class WatchSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    status = serializers.CharField(read_only=True, help_text="active or paused.")
    reference_tables = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    runs = serializers.SerializerMethodField(help_text="The runs it started, newest first.")

    class Meta:
        model = Watch
        fields = [
            "id",
            "investigation",
            "name",
            "source_run",
            "account",
            "instance",
            "source",
            "flow_log_id",
            "analyses",
            "parameters",
            "reference_tables",
            "created_by",
            "interval_minutes",
            "k",
            "lag_seconds",
            "next_run_at",
            "last_window_end",
            "paused",
            "status",
            "last_error",
            "created_at",
            "updated_at",
            "runs",
        ]
        read_only_fields = fields

    def get_runs(self, watch: Watch) -> list[int]:
        return list(
            watch.watch_runs.order_by("-window_start", "-id").values_list("run_id", flat=True)[:100]
        )


class WatchCreateSerializer(serializers.Serializer):
    run = serializers.IntegerField(
        min_value=1, help_text="A succeeded run over CloudWatch Logs or S3 to repeat."
    )
    interval_minutes = serializers.IntegerField(
        min_value=services.MIN_INTERVAL_MINUTES, max_value=services.MAX_INTERVAL_MINUTES
    )
    k = serializers.FloatField(min_value=0, max_value=services.MAX_K, default=3.0)


class WatchUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    interval_minutes = serializers.IntegerField(
        min_value=services.MIN_INTERVAL_MINUTES,
        max_value=services.MAX_INTERVAL_MINUTES,
        required=False,
    )
    k = serializers.FloatField(min_value=0, max_value=services.MAX_K, required=False)


class WatchAlertSerializer(serializers.ModelSerializer):
    investigation = serializers.IntegerField(source="watch.investigation_id", read_only=True)

    class Meta:
        model = WatchAlert
        fields = [
            "id",
            "watch",
            "investigation",
            "run",
            "kind",
            "summary",
            "details",
            "finding",
            "change_number",
            "created_at",
        ]
        read_only_fields = fields


ALERT_KINDS = [str(kind) for kind in AlertKind.values]


def _token_id(request: Request) -> int | None:
    return request.auth.pk if isinstance(request.auth, ApiToken) else None


class WatchViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Watches of the investigations the caller can see: each repeats an AWS run over every
    new window and raises alerts (`watch-alerts/`)."""

    serializer_class = WatchSerializer
    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {
        "GET": "read:investigations",
        "POST": "write:runs",
        "PATCH": "write:runs",
        "DELETE": "write:runs",
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        watches = (
            Watch.objects.for_user(self.request.user)
            .select_related("created_by")
            .order_by("name", "id")
        )
        if self.action == "list":
            investigation = id_param(
                self.request.query_params, "investigation", message="A positive integer id."
            )
            if investigation is not None:
                watches = watches.filter(investigation_id=investigation)
        return watches

    @extend_schema(parameters=[OpenApiParameter("investigation", int)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=WatchCreateSerializer, responses={201: WatchSerializer})
    def create(self, request: Request) -> Response:
        """Watch a succeeded AWS run (analysts who can change its investigation)."""
        body = WatchCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        run = QueryRun.objects.for_user(request.user).filter(pk=data["run"]).first()
        if run is None:
            raise serializers.ValidationError({"run": f"No run {data['run']} that you can see."})
        try:
            watch = services.create_watch_from_run(
                user=request.user,
                run=run,
                interval_minutes=data["interval_minutes"],
                k=data["k"],
                client_ip=client_ip_of(request),
                api_token_id=_token_id(request),
            )
        except RunRequestInvalid as exc:
            raise serializers.ValidationError({"run": str(exc)}) from exc
        return Response(WatchSerializer(watch).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WatchUpdateSerializer, responses={200: WatchSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Change its name, interval or k."""
        watch = self._writable()
        body = WatchUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            watch = services.update_watch(
                user=request.user,
                watch=watch,
                client_ip=client_ip_of(request),
                api_token_id=_token_id(request),
                **body.validated_data,
            )
        except RunRequestInvalid as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        return Response(WatchSerializer(watch).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The watch and its alerts go; its runs stay in the investigation."""
        services.delete_watch(
            user=request.user,
            watch=self._writable(),
            client_ip=client_ip_of(request),
            api_token_id=_token_id(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: WatchSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        """No runs until resumed."""
        return self._change(request, services.pause_watch)

    @extend_schema(request=None, responses={200: WatchSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        """Due at once; its next run reads everything since its last window."""
        return self._change(request, services.resume_watch)

    def _writable(self) -> Watch:
        watch: Watch = self.get_object()
        if not Investigation.objects.writable_by(self.request.user).filter(
            pk=watch.investigation_id
        ):
            self.permission_denied(self.request, message="Your role can read this watch only.")
        return watch

    def _change(self, request: Request, change: Any) -> Response:
        watch = self._writable()
        try:
            watch = change(
                user=request.user,
                watch=watch,
                client_ip=client_ip_of(request),
                api_token_id=_token_id(request),
            )
        except RunRequestInvalid as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        return Response(WatchSerializer(watch).data)


class WatchAlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alerts raised by the watches the caller can see, newest first. For polling, use
    `changes/?cursor=`: every alert exactly once, in commit order."""

    serializer_class = WatchAlertSerializer
    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:investigations"}

    def get_queryset(self) -> Any:
        alerts = WatchAlert.objects.for_user(self.request.user).select_related("watch")
        if self.action in ("list", "changes"):
            watch = id_param(self.request.query_params, "watch", message="A positive integer id.")
            if watch is not None:
                alerts = alerts.filter(watch_id=watch)
            kind = self.request.query_params.get("kind", "")
            if kind:
                if kind not in AlertKind.values:
                    raise serializers.ValidationError(
                        {"kind": f"One of {', '.join(AlertKind.values)}."}
                    )
                alerts = alerts.filter(kind=kind)
        return alerts.order_by("-created_at", "-id")

    @extend_schema(
        parameters=[
            OpenApiParameter("watch", int),
            OpenApiParameter("kind", str, enum=ALERT_KINDS),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int),
            OpenApiParameter("watch", int),
            OpenApiParameter("kind", str, enum=ALERT_KINDS),
        ],
        responses={200: change_page_serializer("WatchAlertChangePage", WatchAlertSerializer)},
    )
    @action(detail=False, methods=["get"])
    def changes(self, request: Request) -> Response:
        """New alerts, each exactly once, in commit order."""
        return change_feed(
            self.get_queryset(), request, WatchAlertSerializer, self.get_serializer_context()
        )
