"""Where a run's flows are analysed, decided once per run: `choose(ctx)` gives the local
engine (DuckDB on this worker, from the flow cache when it holds the data), the parts engine
(a long AWS window fetched by several workers) or Athena (SQL in the customer's account).
Each engine's `load(ctx, progress)` returns a `Loaded`; no engine analyses or saves results."""

from __future__ import annotations

from investigations.runs.context import RunContext, flow_cache
from investigations.runs.engines import athena
from investigations.runs.engines.athena import AthenaEngine
from investigations.runs.engines.base import Engine, Loaded
from investigations.runs.engines.local import LocalEngine
from investigations.runs.engines.parts import PartsEngine

__all__ = ["AthenaEngine", "Engine", "Loaded", "LocalEngine", "PartsEngine", "choose"]


def choose(ctx: RunContext) -> Engine:
    """Athena when the analyst asked for it or the window is large enough (and the account can);
    parts when a long AWS window is not in the flow cache yet; the local engine otherwise."""
    choice = athena.choose(ctx)
    if choice is not None and choice.engine == athena.ATHENA:
        return AthenaEngine(choice)
    if ctx.parts > 1 and flow_cache().get(ctx.cache_key()) is None:
        return PartsEngine(ctx.parts)
    return LocalEngine(choice.to_dict() if choice is not None else None)
