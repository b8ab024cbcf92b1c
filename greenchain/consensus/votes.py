"""The prevotes and precommits of one height, with tallies and evidence (DESIGN §6).

A `VoteSet` is immutable: `add` returns a new set, so the machine state that holds it
stays a value. Votes are kept per (type, round) and per (validator, value):

- A validator weighs at most once toward any one quorum: once in the tally of each
  value it voted for, and once in the "any value" tally of its (type, round).
- A second vote with another value for the same (type, round) is equivocation evidence,
  reported the first time. It is kept and counts for its own value, as in the paper
  (arXiv:1807.04938 counts the messages of f Byzantine processes for any value): a
  correct process that saw a polka including the equivocator's other vote must be able
  to see the same polka, or one equivocator can stall the network for good. Quorum
  intersection keeps this safe while at most f validators are faulty.

Signatures and membership are checked by the caller before `add`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from greenchain.consensus.quorum import max_faulty, quorum_size
from greenchain.model.blocks import NIL, PRECOMMIT, PREVOTE, Commit, CommitSig, Vote

_Key = tuple[int, int]
"""(vote_type, round): one bucket of votes."""
_Ballot = tuple[bytes, bytes]
"""(validator, block_hash): one vote's identity inside a bucket."""


@dataclass(frozen=True, slots=True)
class AddResult:
    """What `VoteSet.add` did."""

    votes: VoteSet
    """The vote set after the call (the same object if nothing changed)."""
    added: bool
    """True if the vote is new (a duplicate is not)."""
    evidence: tuple[Vote, Vote] | None
    """(earlier vote, conflicting vote) the first time a validator equivocates at a key."""


@dataclass(frozen=True, slots=True)
class VoteSet:
    """Prevotes and precommits of one height, by (type, round), validator and value."""

    height: int
    """The height all votes are for."""
    size: int
    """Number of validators of the height (equal weight)."""
    buckets: Mapping[_Key, Mapping[_Ballot, Vote]] = field(default_factory=dict)
    """(vote_type, round) -> (validator, block_hash) -> vote, in arrival order; read-only."""
    evidence: tuple[tuple[Vote, Vote], ...] = ()
    """Equivocations seen: (earlier vote, conflicting vote), one per (validator, key)."""

    def add(self, vote: Vote) -> AddResult:
        """Record a verified vote of this height.

        Returns
        -------
        AddResult
            `added` unless the same validator already voted the same value at the same
            (type, round); `evidence` for its first conflicting vote there.

        Raises
        ------
        ValueError
            If the vote is for another height or of an unknown type.
        """
        if vote.height != self.height or vote.vote_type not in (PREVOTE, PRECOMMIT):
            raise ValueError("vote is for another height or of an unknown type")
        key = (vote.vote_type, vote.round)
        bucket = self.buckets.get(key, {})
        if (vote.validator, vote.block_hash) in bucket:
            return AddResult(self, False, None)
        earlier = self.get(vote.vote_type, vote.round, vote.validator)
        buckets = dict(self.buckets)
        buckets[key] = {**bucket, (vote.validator, vote.block_hash): vote}
        updated = replace(self, buckets=buckets)
        if earlier is None or self._reported(earlier):
            return AddResult(updated, True, None)
        pair = (earlier, vote)
        return AddResult(replace(updated, evidence=(*self.evidence, pair)), True, pair)

    def _reported(self, earlier: Vote) -> bool:
        # One piece of evidence per (validator, type, round) proves the fault.
        return any(first == earlier for first, _ in self.evidence)

    def get(self, vote_type: int, round_: int, validator: bytes) -> Vote | None:
        """Return the first vote of `validator` at (type, round), if any."""
        bucket = self.buckets.get((vote_type, round_), {})
        return next((v for (who, _), v in bucket.items() if who == validator), None)

    def count(self, vote_type: int, round_: int, block_hash: bytes) -> int:
        """Return how many validators voted `block_hash` (b"" for nil) at (type, round)."""
        bucket = self.buckets.get((vote_type, round_), {})
        return sum(1 for _, value in bucket if value == block_hash)

    def has_quorum_for(self, vote_type: int, round_: int, block_hash: bytes) -> bool:
        """Return True if a quorum voted `block_hash` (b"" for nil) at (type, round)."""
        return self.count(vote_type, round_, block_hash) >= quorum_size(self.size)

    def has_polka(self, round_: int, block_hash: bytes) -> bool:
        """Return True if a quorum prevoted `block_hash` in `round_` (a polka)."""
        return self.has_quorum_for(PREVOTE, round_, block_hash)

    def has_quorum_any(self, vote_type: int, round_: int) -> bool:
        """Return True if a quorum of distinct validators voted at (type, round)."""
        return len(self.voters(vote_type, round_)) >= quorum_size(self.size)

    def voters(self, vote_type: int, round_: int) -> frozenset[bytes]:
        """Return the distinct validators that voted at (type, round), any value."""
        return frozenset(who for who, _ in self.buckets.get((vote_type, round_), {}))

    def quorum_value(self, vote_type: int, round_: int) -> bytes | None:
        """Return the value (b"" for nil) a quorum voted at (type, round), or None.

        With at most f faulty validators two values cannot both reach a quorum, since
        the two quorums would share an honest validator.
        """
        tally: dict[bytes, int] = {}
        for _, value in self.buckets.get((vote_type, round_), {}):
            tally[value] = tally.get(value, 0) + 1
        need = quorum_size(self.size)
        return next((value for value, votes in tally.items() if votes >= need), None)

    def senders_at(self, round_: int) -> frozenset[bytes]:
        """Return the validators that cast any prevote or precommit in `round_`."""
        return self.voters(PREVOTE, round_) | self.voters(PRECOMMIT, round_)

    def skip_threshold(self) -> int:
        """Return f + 1: that many validators in a round include an honest one."""
        return max_faulty(self.size) + 1

    def rounds(self) -> list[int]:
        """Return every round holding a vote, ascending."""
        return sorted({round_ for _, round_ in self.buckets})

    def all_votes(self) -> list[Vote]:
        """Return every vote held (conflicting ones too), bucket by bucket."""
        return [vote for bucket in self.buckets.values() for vote in bucket.values()]

    def votes_by(self, validator: bytes) -> list[Vote]:
        """Return every vote of `validator` held, bucket by bucket."""
        return [vote for vote in self.all_votes() if vote.validator == validator]

    def make_commit(self, round_: int, block_hash: bytes) -> Commit:
        """Build the commit from the precommits for `block_hash` in `round_`.

        Returns
        -------
        Commit
            Every precommit held for the block, ordered by validator key.

        Raises
        ------
        ValueError
            If those precommits are fewer than a quorum, or the value is nil.
        """
        if block_hash == NIL or not self.has_quorum_for(PRECOMMIT, round_, block_hash):
            raise ValueError("no quorum of precommits for this block in this round")
        bucket = self.buckets[(PRECOMMIT, round_)]
        signatures = tuple(
            CommitSig(who, vote.signature)
            for (who, value), vote in sorted(bucket.items(), key=lambda item: item[0])
            if value == block_hash
        )
        return Commit(self.height, round_, block_hash, signatures)
