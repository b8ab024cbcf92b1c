"""Peer transport over HTTP (DESIGN §7): knows messages, not consensus rules or the store."""
