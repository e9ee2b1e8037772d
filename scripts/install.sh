#!/usr/bin/env bash
# Install everything geo_platform needs on Debian 12, idempotently (fast when already done):
#   - system packages: PostgreSQL 15 + PostGIS 3, GDAL command line tools (reference benchmarks),
#     Node.js + npm (for the Azurite blob emulator);
#   - Debian's chromium (headless browser test of the UI);
#   - pgbouncer (pools the connections Dagster's storage opens per call, for the local cluster);
#   - redis-server (the Celery broker when GEO_PLATFORM_EXECUTOR=celery; started by
#     `geo-platform services up`, never as the system service);
#   - .venv with Python 3.11 and the project in editable mode with its dev, serve and deploy
#     extras;
#   - node_modules/ with Azurite pinned by package-lock.json.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$(pwd)

log() { printf '[install] %s\n' "$*" >&2; }
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"

# --- system packages -------------------------------------------------------------------------
missing=()
# chromium: the headless browser test of the Dagster UI (Playwright drives Debian's build; we never
# run `playwright install`).
for pkg in postgresql-15 postgresql-15-postgis-3 pgbouncer gdal-bin chromium redis-server; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# Node may come from another source (e.g. nodesource, which bundles npm): only the commands matter.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python virtual environment --------------------------------------------------------------
find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.11 python3; do
    [[ -n "$candidate" ]] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  PY=$(find_python) || { log "Python 3.11 not found (set PYTHON=/path/to/python3.11)"; exit 1; }
  if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then  # Debian's python3.11 splits venv out
    log "apt-get install python3.11-venv"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3.11-venv >/dev/null
  fi
  log "creating .venv with $PY"
  rm -rf .venv
  "$PY" -m venv .venv
fi

STAMP=.venv/.geo_platform-installed
if [[ ! -f $STAMP || pyproject.toml -nt $STAMP ]]; then
  # serve: STAC API / tiler / OGC Features servers; deploy: dagster-k8s (validates deploy/).
  log "pip install -e '.[dev,serve,deploy]'"
  .venv/bin/python -m pip install --quiet -e '.[dev,serve,deploy]'
  touch "$STAMP"
fi

# --- Azurite (npm) ---------------------------------------------------------------------------
NPM_STAMP=node_modules/.package-lock.json
if [[ ! -f node_modules/azurite/package.json || package-lock.json -nt $NPM_STAMP ]]; then
  log "npm ci (Azurite)"
  npm ci --no-audit --no-fund --loglevel=error
fi

log "ok ($REPO_ROOT)"
