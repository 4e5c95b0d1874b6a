"""API representation of audit events (read-only)."""

from rest_framework import serializers

from portal.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "actor_name", "action", "target_type", "target_id",
                  "target_repr", "details", "client_ip", "api_token_id", "prev_hash", "hash"]
        read_only_fields = fields
