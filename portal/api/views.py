"""API views for site-wide records: the audit log (managers and admins, read-only)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.permissions import TokenHasScope
from portal.api.serializers import (
    AuditEventSerializer,
    WebhookCreatedSerializer,
    WebhookDeliverySerializer,
    WebhookSerializer,
)
from portal.filtersets import AuditEventFilterForm
from portal.models import AuditEvent, Webhook
from portal.roles import can_read_audit
from portal.webhooks import create_webhook, delete_webhook


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Filters: `actor`, `action` (prefix), `target`, `since`, `until` (YYYY-MM-DD)."""

    serializer_class = AuditEventSerializer
    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:audit"}

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return AuditEvent.objects.none()
        if not can_read_audit(self.request.user):
            raise PermissionDenied("Only managers and admins read the audit log.")
        events: QuerySet[AuditEvent] = AuditEvent.objects.for_user(self.request.user).order_by(
            "-created_at", "-id"
        )
        if self.request.query_params:
            form = AuditEventFilterForm(self.request.query_params)
            events = form.filter(events)
        return events


class WebhookViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your integrations' webhooks: create (the signing secret is returned once), list, delete,
    and each one's delivery log at `{id}/deliveries/`."""

    serializer_class = WebhookSerializer
    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {
        "GET": "read:investigations",
        "POST": "write:investigations",
        "DELETE": "write:investigations",
    }

    def get_queryset(self) -> Any:
        if not self.request.user.is_authenticated:  # schema generation
            return Webhook.objects.none()
        return Webhook.objects.filter(user=self.request.user)

    @extend_schema(responses={201: WebhookCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = WebhookSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            hook, secret = create_webhook(user=request.user, **body.validated_data)
        except ValueError as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        data = WebhookSerializer(hook).data
        return Response({**data, "secret": secret}, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Webhook) -> None:
        delete_webhook(user=self.request.user, webhook=instance)

    @extend_schema(responses={200: WebhookDeliverySerializer(many=True)})
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        hook = self.get_object()
        page = self.paginate_queryset(hook.deliveries.all())
        data = WebhookDeliverySerializer(page, many=True).data
        return self.get_paginated_response(data)
