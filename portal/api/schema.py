"""The OpenAPI schema: its view and the description of bearer-token authentication."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class DetailSerializer(serializers.Serializer):
    """Documents an error answered as `{"detail": "..."}`."""

    detail = serializers.CharField()


class FormatParamNegotiation(DefaultContentNegotiation):
    """`?format=json` or `?format=yaml` picks the renderer, as `Accept` does. The API turns
    the DRF-wide `format` override off because `format` selects exports there."""

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        wanted = format_suffix or request.query_params.get("format") or None
        return super().select_renderer(request, renderers, wanted)


class SchemaView(SpectacularAPIView):
    """The schema as YAML (default) or JSON (`?format=json` or `Accept: application/json`)."""

    content_negotiation_class = FormatParamNegotiation


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A scoped API token from `manage.py create_api_token`.",
        }
