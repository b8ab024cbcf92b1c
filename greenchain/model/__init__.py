"""Data model: transactions, blocks, votes, certificates and genesis (DESIGN §2-§5)."""
