"""App config for reports: its own migrations, so report jobs never wait on investigations'."""

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "investigations.reports"
    label = "reports"
    verbose_name = "Reports"
