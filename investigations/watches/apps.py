"""App config for watches: its own migrations, so they never race investigations' own."""

from django.apps import AppConfig


class WatchesConfig(AppConfig):
    name = "investigations.watches"
    label = "watches"
    verbose_name = "Watches"
