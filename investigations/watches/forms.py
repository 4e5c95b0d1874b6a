"""The shape of a watch's schedule: how often it runs and how far a spike stands out."""

from __future__ import annotations

from django import forms

from investigations.watches.services import MAX_INTERVAL_MINUTES, MAX_K, MIN_INTERVAL_MINUTES


class WatchForm(forms.Form):
    interval_minutes = forms.IntegerField(
        label="Run every (minutes)",
        min_value=MIN_INTERVAL_MINUTES,
        max_value=MAX_INTERVAL_MINUTES,
        initial=60,
        help_text="Each run reads the flow logs since the previous one ended.",
    )
    k = forms.FloatField(
        label="Spike threshold k",
        min_value=0,
        max_value=MAX_K,
        initial=3.0,
        help_text="Alert when REJECT flows or bytes to external peers exceed mean + k·sigma of "
        "the watch's earlier runs (after three of them).",
    )
