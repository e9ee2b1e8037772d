"""The Dagster code location: each domain's Definitions, merged, with the executor and resources.

No logic here. Every asset, check, job, sensor and schedule is defined by its domain under
``geo_platform.defs`` (each package exposes ``defs``; those that depend on settings
``build_defs(settings)``: bronze, whose sensors' intervals and event-driven ingestion do, and
promotion, whose automation does); resources and the executor are built from the environment
by ``geo_platform.resources``, so the same code runs locally and in production. Loaded by
``dagster`` (workspace.yaml, ``[tool.dagster]``) and by ``dg`` (``[tool.dg]`` in pyproject.toml).
"""

from __future__ import annotations

import os

import dagster as dg

from geo_platform.defs import (
    analytics,
    bronze,
    catalog,
    collections,
    grids,
    lifecycle,
    pipeline,
    promotion,
    quality,
    raster,
    vector,
)
from geo_platform.resources import build_resources, executor_for
from geo_platform.settings import Settings, load_settings

DOMAINS = (raster, vector, catalog, collections, grids, analytics, quality, lifecycle)

__all__ = ["DOMAINS", "build_definitions", "build_resources", "defs"]


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    # Read by Dagster in the processes that execute our runs (code server, run and step workers,
    # `geo-platform ingest`), which all load these definitions: a batch of files then costs one
    # event-log INSERT per asset instead of one per file and asset. Set it to 0 to turn it off.
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(settings.event_batch_size))
    return dg.Definitions.merge(
        bronze.build_defs(settings),
        *(domain.defs for domain in DOMAINS),
        promotion.build_defs(settings),
        pipeline.defs,
        dg.Definitions(executor=executor_for(settings), resources=build_resources(settings)),
    )


defs = build_definitions()
