#!/usr/bin/env bash
# Set up (if needed) and run graphrec's main job end to end on the embedded graph server:
# generate the sample graph, ingest it, train, write the embeddings back, and recommend with Cypher.
# Extra arguments go to `graphrec demo`, e.g. `--data ../shared/data/ml-100k --format movielens`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/graphrec demo "$@"
