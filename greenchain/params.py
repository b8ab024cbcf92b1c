"""Protocol constants (DESIGN §3-§7): domain tags, size limits, timeouts.

Per-chain settings (chain id, validators, expiry policy) live in genesis instead.
"""

from typing import Final

# Domain separation tags (DESIGN §3, §4): no signature is valid for two message kinds.
TX_DOMAIN: Final = b"greenchain/tx/v1"
VOTE_DOMAIN: Final = b"greenchain/vote/v1"
PROPOSAL_DOMAIN: Final = b"greenchain/proposal/v1"
VALSET_DOMAIN: Final = b"greenchain/valset/v1"

# Size limits (DESIGN §7), bytes.
MAX_BODY_BYTES: Final = 8 * 1024 * 1024
MAX_TX_BYTES: Final = 16 * 1024
MAX_BLOCK_BYTES: Final = 4 * 1024 * 1024
MAX_BLOCK_TXS: Final = 2000
MIN_BLOCK_TXS: Final = 100
MAX_STR_LEN: Final = 1024
MAX_ARRAY_LEN: Final = 100_000

# Attestation rules (DESIGN §3), seconds.
MAX_PERIOD_S: Final = 3600
MAX_CLOCK_SKEW_S: Final = 5

# Block production (DESIGN §6), seconds.
BATCH_DELAY_S: Final = 0.1
# A proposer sizes its block so building it takes about this long at its measured rate:
# blocks shrink when the machine is loaded, so a round never outgrows its timeouts.
BUILD_BUDGET_S: Final = 0.4
HEARTBEAT_S: Final = 60.0

# Round timeouts (DESIGN §6), seconds: base + per-round increment, capped at CAP_FACTOR x base.
TIMEOUT_PROPOSE_S: Final = 1.0
TIMEOUT_PROPOSE_DELTA_S: Final = 0.5
TIMEOUT_VOTE_S: Final = 0.5
TIMEOUT_VOTE_DELTA_S: Final = 0.25
TIMEOUT_CAP_FACTOR: Final = 4

# Mempool.
MEMPOOL_MAX_TXS: Final = 200_000
ADMIT_CHUNK: Final = 256
"""Transactions of one submitted batch admitted between yields to the event loop, so a
large batch (up to MAX_ARRAY_LEN items) never stalls consensus or other requests."""
REJECTED_TTL_S: Final = 600.0
