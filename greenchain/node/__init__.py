"""The node runtime: the only layer that does I/O and reads the clock."""
