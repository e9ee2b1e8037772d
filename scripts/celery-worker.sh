#!/usr/bin/env bash
# Start one Celery worker for GEO_PLATFORM_EXECUTOR=celery, in the foreground:
#   scripts/celery-worker.sh [-n NAME] [-- CELERY_WORKER_OPTIONS]   e.g. -n w1 -- --concurrency=1
# It takes steps from the Redis of GEO_PLATFORM_REDIS_URL (default: ours on GEO_PLATFORM_REDIS_PORT,
# started by `GEO_PLATFORM_EXECUTOR=celery geo-platform services up`) and writes to the same blob
# store and databases as the runs, from the same environment (GEO_PLATFORM_*, DAGSTER_HOME and
# DAGSTER_PG_*). The worker's configuration is written from the settings by
# geo_platform/resources/celery.py, the same function that configures the runs' executor.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(scripts/env.sh)"
config="${GEO_PLATFORM_STATE_DIR:-.state}/celery/worker.yaml"
.venv/bin/python -m geo_platform.resources.celery "$config" >/dev/null
export PATH="$PWD/.venv/bin:$PATH"  # dagster-celery starts `celery` from PATH
exec dagster-celery worker start -A dagster_celery.app -y "$config" "$@"
