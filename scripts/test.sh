#!/usr/bin/env bash
# Set up (if needed) and run graphrec's tests: the unit and integration tiers (a real embedded graph server is
# started for the session and stopped at the end). Extra arguments go to pytest, e.g. `--slow` for whole datasets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
