"""BFT proof-of-authority consensus as a pure state machine (DESIGN §6)."""
