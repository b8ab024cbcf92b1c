# Shared by demo.sh and test.sh: create .venv if missing and install the project into it.
# Reinstalls only when pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
EXTRAS="${1:-}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.greenchain-installed${EXTRAS:+-$EXTRAS}"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  if [ -n "$EXTRAS" ]; then
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$EXTRAS]"
  else
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT"
  fi
  touch "$STAMP"
fi
