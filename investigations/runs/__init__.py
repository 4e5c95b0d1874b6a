"""A run from request to saved results: submit, queue, pipeline (context → engine → analysis),
lifecycle (the one writer of how a run ends), reaper."""
