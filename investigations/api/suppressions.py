"""API for suppression rules: list, read, create and disable, through the same services as the
pages. Reads need `read:findings`; writes `write:investigations` (as triage does)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from investigations.api.params import id_param
from investigations.models import Investigation, SuppressionRule
from investigations.services import RunRequestInvalid
from investigations.suppressions import SuppressionRuleInvalid, create_rule, disable_rule
from portal.api.permissions import TokenHasScope
from portal.audit import client_ip_of
from portal.models import ApiToken

RULE_STATES = ("active", "expired", "disabled")


class SuppressionRuleSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    disabled_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    state = serializers.SerializerMethodField(help_text="active, expired or disabled.")
    label = serializers.CharField(read_only=True, help_text="How runs name it: rule 'name' (#id).")

    class Meta:
        model = SuppressionRule
        fields = [
            "id",
            "investigation",
            "name",
            "reason",
            "detection",
            "actor",
            "target",
            "created_by",
            "created_at",
            "expires_at",
            "disabled_at",
            "disabled_by",
            "state",
            "label",
        ]
        read_only_fields = fields

    def get_state(self, rule: SuppressionRule) -> str:
        return rule.state()


class SuppressionRuleCreateSerializer(serializers.Serializer):
    investigation = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="The investigation whose runs honour it; null or absent: global (admins).",
    )
    name = serializers.CharField(max_length=100)
    reason = serializers.CharField(max_length=500)
    detection = serializers.CharField(
        max_length=64, default="*", help_text="A detection id from `detections/`, or *."
    )
    actor = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    target = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


def _token_id(request: Request) -> int | None:
    return request.auth.pk if isinstance(request.auth, ApiToken) else None


class SuppressionRuleViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Suppression rules the caller can see: the global ones and those of investigations they
    can see. Runs list the findings an active rule matches apart. Rules are disabled, never
    deleted, so past runs still name them."""

    serializer_class = SuppressionRuleSerializer
    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:findings", "POST": "write:investigations"}
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> Any:
        rules = (
            SuppressionRule.objects.for_user(self.request.user)
            .select_related("created_by", "disabled_by")
            .order_by("-created_at", "-id")
        )
        if self.action != "list":
            return rules
        params = self.request.query_params
        value = params.get("investigation", "")
        if value == "global":
            rules = rules.filter(investigation__isnull=True)
        elif value:
            investigation = id_param(
                params, "investigation", message="An investigation id, or `global`."
            )
            rules = rules.filter(investigation_id=investigation)
        state = params.get("state", "")
        if state:
            if state not in RULE_STATES:
                raise serializers.ValidationError({"state": f"One of {', '.join(RULE_STATES)}."})
            active = SuppressionRule.objects.active().values("pk")
            if state == "active":
                rules = rules.filter(pk__in=active)
            elif state == "disabled":
                rules = rules.filter(disabled_at__isnull=False)
            else:
                rules = rules.filter(disabled_at__isnull=True).exclude(pk__in=active)
        return rules

    @extend_schema(
        parameters=[
            OpenApiParameter("investigation", str, description="An investigation id, or `global`."),
            OpenApiParameter("state", str, enum=list(RULE_STATES)),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=SuppressionRuleCreateSerializer, responses={201: SuppressionRuleSerializer}
    )
    def create(self, request: Request) -> Response:
        """A rule for one investigation (analysts who can change it) or, without
        `investigation`, a global one (admins). Give an actor, a target or both."""
        body = SuppressionRuleCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        investigation = None
        if data.get("investigation") is not None:
            investigation = (
                Investigation.objects.for_user(request.user)
                .filter(pk=data["investigation"])
                .first()
            )
            if investigation is None:
                raise serializers.ValidationError(
                    {"investigation": f"No investigation {data['investigation']} that you can see."}
                )
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
                api_token_id=_token_id(request),
            )
        except SuppressionRuleInvalid as exc:
            raise serializers.ValidationError(exc.errors) from exc
        return Response(SuppressionRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: SuppressionRuleSerializer})
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str | None = None) -> Response:
        """Later runs no longer honour the rule; it stays listed as disabled."""
        rule = self.get_object()
        try:
            rule = disable_rule(
                user=request.user,
                rule=rule,
                client_ip=client_ip_of(request),
                api_token_id=_token_id(request),
            )
        except RunRequestInvalid as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        return Response(SuppressionRuleSerializer(rule).data)
