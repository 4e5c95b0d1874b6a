"""Everything a worker derives from a run's row, derived once: parameters (with the reference
tables' contents), window, AWS account, flow log, scratch folder, flow cache and its keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from analysis.analyzers import AnalysisParams
from analysis.cache import FlowCache, cache_key
from analysis.window import TimeWindow
from investigations.choices import RunSource
from investigations.models import QueryRun
from investigations.reference import as_database_path, reference_params
from investigations.runs.recurring import earlier_outbound_pairs
from investigations.suppressions import rules_for_run


@dataclass(frozen=True)
class RunContext:
    run: QueryRun
    params: AnalysisParams
    window: TimeWindow | None
    scratch: Path
    account: Any = None  # accounts.models.AwsAccount, for AWS runs
    # The suppression rules the run honours, as its `data_read` records them.
    suppression_rules: tuple[dict[str, Any], ...] = ()

    @classmethod
    def for_run(cls, run: QueryRun, *, scratch: str = "") -> RunContext:
        """The run's context; `scratch` names its folder under WORK_DIR (default run-<id>).
        An AWS run whose account is gone, or that has no window, is refused (ValueError)."""
        versions = run.reference_versions.select_related("table")
        # Every active rule of the investigation and every global one, as they are now: the
        # run records them, so a rule changed or disabled later does not rewrite its story.
        rules = rules_for_run(run)
        suppressions = [
            *(run.parameters.get("suppressions") or []),
            *(rule.as_engine_rule() for rule in rules),
        ]
        # Pairs the hosts reached in the investigation's earlier windows: recurring.
        recurring = earlier_outbound_pairs(run)
        params = AnalysisParams.from_dict(
            {
                **run.parameters,
                **({"recurring_pairs": recurring} if recurring else {}),
                # The site's AS database, unless the run links a version of it already.
                "as_database": as_database_path(),
                **reference_params(versions),
                **({"suppressions": suppressions} if suppressions else {}),
            }
        )
        window = None
        if run.window_start or run.window_end:
            window = TimeWindow.build(run.window_start, run.window_end)
        account = None
        if run.source != RunSource.FILE:
            from accounts.models import AwsAccount

            account = AwsAccount.objects.filter(pk=run.source_config.get("account")).first()
            if account is None:
                raise ValueError("The AWS account of this run no longer exists.")
            if window is None or window.start is None:
                raise ValueError("A run over AWS data needs a time window.")
        folder = Path(settings.WORK_DIR) / (scratch or f"run-{run.pk}")
        return cls(
            run=run,
            params=params,
            window=window,
            scratch=folder,
            account=account,
            suppression_rules=tuple(rule.snapshot() for rule in rules),
        )

    @property
    def is_aws(self) -> bool:
        return self.account is not None

    @property
    def config(self) -> dict[str, Any]:
        return self.run.source_config or {}

    @property
    def flow_log(self) -> dict[str, Any]:
        return dict(self.config.get("flow_log") or {})

    @property
    def interfaces(self) -> list[str]:
        return list((self.config.get("instance") or {}).get("interfaces") or [])

    @property
    def parts(self) -> int:
        """In how many parts the window is fetched (decided when the run was submitted)."""
        return int(self.config.get("parts") or 1) if self.is_aws else 1

    def window_key(self) -> list[str | None]:
        window = self.window
        if window is None:
            return [None, None]
        return [
            window.start.isoformat() if window.start else None,
            window.end.isoformat() if window.end else None,
        ]

    def cache_key(self, part: tuple[int, int] | None = None) -> str:
        """The flow cache key of the data the run reads (or of one part: (index, count))."""
        if not self.is_aws:
            uploads = [[u.storage_key, u.sha256] for u in self.run.uploads.order_by("pk")]
            return cache_key(kind="file", window=self.window_key(), uploads=uploads)
        flow_log = self.flow_log
        return cache_key(
            kind=self.config["kind"],
            account=self.account.account_id,
            flow_log=flow_log.get("flow_log_id"),
            location=[
                flow_log.get("log_group_name"),
                flow_log.get("s3_bucket"),
                flow_log.get("s3_prefix"),
            ],
            log_format=flow_log.get("log_format"),
            interfaces=sorted(self.interfaces),
            window=self.window_key(),
            **({"part": list(part)} if part else {}),
        )

    def engine_options(self) -> dict[str, Any]:
        """How every DuckDB engine of the run is opened: the memory and thread limits from the
        settings, spilling into the run's scratch folder."""
        return {
            "memory_limit": settings.ENGINE_MEMORY_LIMIT,
            "threads": settings.ENGINE_THREADS,
            "temp_directory": str(self.scratch),
            "max_gzip_ratio": settings.FLOWLOG_MAX_GZIP_RATIO,
        }

    def role(self, purpose: str) -> tuple[Any, Any]:
        """The account's role assumed as the analyst who asked for the run (audited with
        `purpose`), and the portal's AWS settings."""
        from accounts.conf import portal_aws_settings
        from accounts.services import assume_account_role

        aws_settings = portal_aws_settings()
        role = assume_account_role(
            user=self.run.requested_by,
            account=self.account,
            purpose=purpose,
            aws_settings=aws_settings,
        )
        return role, aws_settings

    def window_read(self) -> list[str | None]:
        """The window as the run's `data_read` records it."""
        run = self.run
        return [
            run.window_start.isoformat() if run.window_start else None,
            run.window_end.isoformat() if run.window_end else None,
        ]


def flow_cache() -> FlowCache:
    # An entry being built belongs to a live run until the run's hard time limit has passed.
    return FlowCache(
        str(settings.FLOW_CACHE_DIR),
        max_bytes=settings.FLOW_CACHE_MAX_BYTES,
        max_age_seconds=settings.FLOW_CACHE_MAX_AGE_SECONDS,
        stale_seconds=settings.CELERY_TASK_TIME_LIMIT + 600,
    )
