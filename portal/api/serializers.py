"""API representation of audit events (read-only)."""

from rest_framework import serializers

from portal.models import AuditEvent, Webhook, WebhookDelivery


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor_name",
            "actor_user_id",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "details",
            "client_ip",
            "user_agent",
            "api_token_id",
            "prev_hash",
            "hash",
            "key_id",
        ]
        read_only_fields = fields


class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=Webhook.EVENTS))

    class Meta:
        model = Webhook
        fields = ["id", "name", "url", "events", "active", "created_at"]
        read_only_fields = ["id", "active", "created_at"]


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown once; keep it to verify.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "message_id",
            "event",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "created_at",
            "delivered_at",
            "last_attempt_at",
            "next_attempt_at",
            "payload",
        ]
        read_only_fields = fields
