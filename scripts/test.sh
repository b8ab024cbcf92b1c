#!/usr/bin/env bash
# Lint (ruff), type-check (mypy --strict on greenchain/) and run the tests (pytest "$@").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/_venv.sh" "test"
cd "$ROOT"
echo "== ruff"
.venv/bin/ruff check greenchain tests scripts
echo "== mypy (strict)"
.venv/bin/mypy greenchain
echo "== pytest"
set +e
.venv/bin/pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$status"
