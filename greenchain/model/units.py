"""Named unit types (STYLE.md §4). All are plain ints or bytes at run time."""

from typing import NewType

Wh = NewType("Wh", int)
"""Energy in watt-hours."""
Height = NewType("Height", int)
"""Block height; genesis state is height 0, the first block is height 1."""
Round = NewType("Round", int)
"""Consensus round within a height."""
UnixSeconds = NewType("UnixSeconds", int)
"""UTC seconds since the Unix epoch."""
UnixMillis = NewType("UnixMillis", int)
"""UTC milliseconds since the Unix epoch (block timestamps)."""
Hash32 = NewType("Hash32", bytes)
"""A 32-byte SHA-256 digest."""
PubKey = NewType("PubKey", bytes)
"""A raw 32-byte Ed25519 public key."""
