#!/usr/bin/env bash
# Run the demo: a 4-validator network on 127.0.0.1 issuing certificates from real wind data.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/_venv.sh" ""
exec "$ROOT/.venv/bin/greenchain" demo "$@"
