"""One module per use case, as plain functions over ``lib`` and ``store``: no Dagster, so each
is unit-tested without it, and each returns a dataclass the Dagster wiring (``defs``) turns into
metadata.

Publishing: ``publish_raster`` (with ``publish_multidim``), ``publish_tiled``,
``publish_collection``, ``publish_vector``, ``dedupe`` and ``catalog``. Taking out: ``unpublish``
(with ``unpublish_plan``, ``_audit``, ``_dependents``, ``_types``) and ``janitor``. Production:
``promote`` and ``demote``. Reports: ``quality_report``, ``accounting``, ``analytics_views``;
``rebase_hrefs`` after a change of the public base URL.
"""
