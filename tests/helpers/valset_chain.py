"""A test chain whose validator set changes twice (DESIGN §3 update_validators).

Heights (genesis set = validator_0..3, sorted by key as `v`):

- h1 setup (accounts, device WT1), h2 issue: WT1 attests [0, 1000); the proof of WT1:100
  is taken here, before any change (`old_proof`);
- h3 add: v[0] submits the addition of validator_4 approved by all four, active at h5;
- h4 an empty block, still decided by the genesis set;
- h5 split (first height of the 5-set): operator moves 600 of [0, 1000) to retailer,
  committed by the four others without v[0] (validator_4's precommit is needed);
- h6 remove: validator_4 submits the removal of v[1], approved by all five, active at h8;
- h7 an empty block, committed by the 5-set;
- h8 retire (first height of the shrunk set): retailer retires 250 of [0, 600),
  committed by three of the four (a quorum of 4, not of 5).

Every block's proposer is the proposer of its height's set, so a node can check it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from helpers.chain_builder import DEVICE_ID, PERIOD_START, ChainBuilder, bundle_id, key

from greenchain.consensus.quorum import proposer_for
from greenchain.crypto.keys import KeyPair
from greenchain.ledger.blocks import BuiltBlock, build_block
from greenchain.ledger.validators import get_validators
from greenchain.model.transactions import make_update_validators
from greenchain.proof.build import build_provenance

SERIAL = 100


class ValsetChainBuilder(ChainBuilder):
    """A `ChainBuilder` whose ledger knows the genesis set and whose proposers follow it."""

    def __init__(self) -> None:
        super().__init__()
        self.env = replace(self.env, genesis_validators=self.genesis.validator_keys)

    def set_at(self, height: int) -> tuple[bytes, ...]:
        return get_validators(self.store, height, self.genesis.validator_keys)

    def build(self, *, time_ms: int | None = None, round_: int = 0) -> BuiltBlock:
        height = self.tip.height + 1
        proposer = proposer_for(self.set_at(height), height, round_)
        when = self.tip.time_ms + 1000 if time_ms is None else time_ms
        return build_block(self.store, list(self.pending), self.tip, self.env, proposer,
                           round_, when, self.last_commit)


def by_key(keys: list[KeyPair]) -> list[KeyPair]:
    return sorted(keys, key=lambda k: k.public)


@dataclass(frozen=True, slots=True)
class ValsetScenario:
    """The chain, its named heights and the key sets in force."""

    chain: ValsetChainBuilder
    heights: dict[str, int]
    old_proof: bytes
    """Proof of WT1:100 built at h2, before any change."""
    genesis_set: list[KeyPair]
    grown: list[KeyPair]
    """The 5-set of h5..h7."""
    shrunk: list[KeyPair]
    """The set from h8 on (validator_4 in, v[1] out)."""
    added: KeyPair
    removed: KeyPair


def valset_scenario() -> ValsetScenario:
    chain = ValsetChainBuilder()
    v = chain.validators
    added, removed = key("validator_4"), v[1]
    grown = by_key([*v, added])
    shrunk = [k for k in grown if k != removed]
    heights = {"setup": chain.setup_plant().header.height}
    chain.attest(DEVICE_ID, PERIOD_START, PERIOD_START + 3600, 1000)
    heights["issue"] = chain.seal().header.height
    old_proof = build_provenance(chain.store, DEVICE_ID, SERIAL)
    heights["grown"] = chain.tip.height + 3
    chain.submit(v[0], make_update_validators(v, chain.chain_id, [added.public], [],
                                              heights["grown"]))
    heights["add"] = chain.seal().header.height
    chain.seal()
    chain.transfer(key("operator"), bundle_id(0, 1000), 600, key("retailer"))
    heights["split"] = chain.seal(signers=[k for k in grown if k != v[0]]).header.height
    heights["shrunk"] = chain.tip.height + 3
    chain.submit(added, make_update_validators(grown, chain.chain_id, [], [removed.public],
                                               heights["shrunk"]))
    heights["remove"] = chain.seal(signers=grown).header.height
    chain.seal(signers=grown)
    chain.retire(key("retailer"), bundle_id(0, 600), 250)
    heights["retire"] = chain.seal(signers=shrunk[1:]).header.height
    return ValsetScenario(chain, heights, old_proof, v, grown, shrunk, added, removed)
