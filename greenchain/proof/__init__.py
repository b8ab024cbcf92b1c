"""Provenance proofs (DESIGN §8): build them from the store, verify them offline.

`build` reads a node's store; `verify` needs only the proof and genesis. Import from the
submodules (`greenchain.proof.verify`, `greenchain.proof.build`) so that a verifier does
not load the store.
"""
