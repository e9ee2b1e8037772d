"""Dagster wiring only, one package per domain: bronze, raster, vector, collections, catalog,
quality, grids, analytics, lifecycle, promotion. Each holds assets, checks, jobs, partitions,
sensors and schedules, calls a workflow (``geo_platform.workflows``) and turns its result into
metadata; each exposes its ``Definitions`` (``defs`` or ``build_defs(settings)``), which
``geo_platform.definitions`` merges. ``common`` (many partitions per run), ``stages`` (a file's
stages in one step) and ``pipeline`` (each kind's file pipeline, automation) serve every domain.

Configuration arrives through resources (``geo_platform.resources``) or, for the few
``build_defs``, a ``Settings`` value: nothing here calls ``load_settings`` or imports ``app``
or ``cli``.
"""
