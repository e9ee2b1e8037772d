#!/usr/bin/env bash
# Print `export` lines for Dagster processes started by hand (DAGSTER_HOME, DAGSTER_PG_*),
# computed from the same settings the CLI uses:   eval "$(scripts/env.sh)"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec .venv/bin/python - <<'PY'
import shlex

from geo_platform.app.instance import dagster_env
from geo_platform.settings import load_settings

for key, value in dagster_env(load_settings()).items():
    print(f"export {key}={shlex.quote(value)}")
PY
