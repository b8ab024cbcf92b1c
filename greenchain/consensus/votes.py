"""The prevotes and precommits of one height, with tallies and evidence (DESIGN §6).

A `VoteSet` is immutable: `add` returns a new set, so the machine state that holds it
stays a value. It keeps one vote per (validator, type, round): the first one counts; a
second vote with another value is equivocation evidence, stored and returned but never
counted, so a double-signer cannot weigh twice toward any quorum. Signatures and
membership are checked by the caller before `add`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from greenchain.consensus.quorum import max_faulty, quorum_size
from greenchain.model.blocks import NIL, PRECOMMIT, PREVOTE, Commit, CommitSig, Vote

_Key = tuple[int, int]
"""(vote_type, round): one bucket of votes."""


@dataclass(frozen=True, slots=True)
class AddResult:
    """What `VoteSet.add` did."""

    votes: VoteSet
    """The vote set after the call (the same object if nothing changed)."""
    added: bool
    """True if the vote is new and now counts."""
    evidence: tuple[Vote, Vote] | None
    """(counted vote, conflicting vote) the first time a validator equivocates."""


@dataclass(frozen=True, slots=True)
class VoteSet:
    """Prevotes and precommits of one height, by (type, round) and validator."""

    height: int
    """The height all votes are for."""
    size: int
    """Number of validators of the height (equal weight)."""
    buckets: Mapping[_Key, Mapping[bytes, Vote]] = field(default_factory=dict)
    """(vote_type, round) -> validator -> the vote that counts; treat as read-only."""
    evidence: tuple[tuple[Vote, Vote], ...] = ()
    """Every equivocation seen: (counted vote, conflicting vote), one per key."""

    def add(self, vote: Vote) -> AddResult:
        """Record a verified vote of this height.

        Returns
        -------
        AddResult
            `added` for a new vote; neither added nor evidence for a duplicate or a
            further conflict already reported; `evidence` for the first conflict.

        Raises
        ------
        ValueError
            If the vote is for another height or of an unknown type.
        """
        if vote.height != self.height or vote.vote_type not in (PREVOTE, PRECOMMIT):
            raise ValueError("vote is for another height or of an unknown type")
        key = (vote.vote_type, vote.round)
        bucket = self.buckets.get(key, {})
        counted = bucket.get(vote.validator)
        if counted is None:
            buckets = dict(self.buckets)
            buckets[key] = {**bucket, vote.validator: vote}
            return AddResult(replace(self, buckets=buckets), True, None)
        if counted.block_hash == vote.block_hash or self._reported(counted):
            return AddResult(self, False, None)
        pair = (counted, vote)
        return AddResult(replace(self, evidence=(*self.evidence, pair)), False, pair)

    def _reported(self, vote: Vote) -> bool:
        # One piece of evidence per (validator, type, round) is enough to prove the fault;
        # more would let an equivocator grow our memory without bound.
        return any(first == vote for first, _ in self.evidence)

    def get(self, vote_type: int, round_: int, validator: bytes) -> Vote | None:
        """Return the counted vote of `validator` for (type, round), if any."""
        return self.buckets.get((vote_type, round_), {}).get(validator)

    def count(self, vote_type: int, round_: int, block_hash: bytes) -> int:
        """Return how many validators voted `block_hash` (b"" for nil) at (type, round)."""
        bucket = self.buckets.get((vote_type, round_), {})
        return sum(1 for vote in bucket.values() if vote.block_hash == block_hash)

    def has_quorum_for(self, vote_type: int, round_: int, block_hash: bytes) -> bool:
        """Return True if a quorum voted `block_hash` (b"" for nil) at (type, round)."""
        return self.count(vote_type, round_, block_hash) >= quorum_size(self.size)

    def has_polka(self, round_: int, block_hash: bytes) -> bool:
        """Return True if a quorum prevoted `block_hash` in `round_` (a polka)."""
        return self.has_quorum_for(PREVOTE, round_, block_hash)

    def has_quorum_any(self, vote_type: int, round_: int) -> bool:
        """Return True if a quorum cast votes of `vote_type` in `round_`, whatever value."""
        return len(self.buckets.get((vote_type, round_), {})) >= quorum_size(self.size)

    def quorum_value(self, vote_type: int, round_: int) -> bytes | None:
        """Return the value (b"" for nil) a quorum voted at (type, round), or None.

        Two quorums for different values would need more than f equivocators, whose
        second votes are never counted, so at most one value qualifies.
        """
        tally: dict[bytes, int] = {}
        for vote in self.buckets.get((vote_type, round_), {}).values():
            tally[vote.block_hash] = tally.get(vote.block_hash, 0) + 1
        need = quorum_size(self.size)
        for value, votes in tally.items():
            if votes >= need:
                return value
        return None

    def senders_at(self, round_: int) -> frozenset[bytes]:
        """Return the validators that cast any prevote or precommit in `round_`."""
        prevoters = self.buckets.get((PREVOTE, round_), {}).keys()
        precommitters = self.buckets.get((PRECOMMIT, round_), {}).keys()
        return frozenset(prevoters) | frozenset(precommitters)

    def skip_threshold(self) -> int:
        """Return f + 1: that many validators in a round include an honest one."""
        return max_faulty(self.size) + 1

    def rounds(self) -> list[int]:
        """Return every round holding a vote, ascending."""
        return sorted({round_ for _, round_ in self.buckets})

    def votes_by(self, validator: bytes) -> list[Vote]:
        """Return the counted votes of `validator`, by (type, round) insertion order."""
        return [bucket[validator] for bucket in self.buckets.values() if validator in bucket]

    def make_commit(self, round_: int, block_hash: bytes) -> Commit:
        """Build the commit from the precommits for `block_hash` in `round_`.

        Returns
        -------
        Commit
            Every counted precommit for the block, ordered by validator key.

        Raises
        ------
        ValueError
            If those precommits are fewer than a quorum, or the value is nil.
        """
        if block_hash == NIL or not self.has_quorum_for(PRECOMMIT, round_, block_hash):
            raise ValueError("no quorum of precommits for this block in this round")
        bucket = self.buckets[(PRECOMMIT, round_)]
        signatures = tuple(
            CommitSig(validator, vote.signature)
            for validator, vote in sorted(bucket.items())
            if vote.block_hash == block_hash
        )
        return Commit(self.height, round_, block_hash, signatures)
