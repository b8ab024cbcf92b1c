"""Cryptography: hashing, Ed25519 keys and signing, Merkle trees, the authenticated map."""
