"""Use cases for people, one module each: ingest, backfill, demo, health, serve (and the servers
it runs: the STAC API, the files server), rebase-hrefs, unpublish/janitor and promote/demote
runs, and the Dagster instance environment (``instance.dagster_env``, the one place it is set).

Imports point down (lib, store, workflows, resources, defs); nothing here imports ``cli``.
"""
