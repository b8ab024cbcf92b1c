"""The pure ledger: validate and apply transactions and blocks (no I/O, clock or randomness)."""
