"""App config for the portal's own models (audit log, API tokens)."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal import auth_audit
        from portal.api import schema  # noqa: F401  registers the OpenAPI auth extension

        auth_audit.connect()
