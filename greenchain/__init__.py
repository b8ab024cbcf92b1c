"""GreenChain: a permissioned BFT ledger for hourly green electricity certificates."""

__version__ = "0.1.0"
