"""Status proofs (DESIGN §8): a certificate's current state, verified offline from genesis."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner, Result
from helpers.chain_builder import (
    DAY_S,
    DEVICE_ID,
    PERIOD_START,
    VECTOR_SERIAL,
    ChainBuilder,
    Scenario,
    bundle_id,
    key,
    make_commit,
    make_genesis,
    provenance_scenario,
    validator_keys,
)
from helpers.valset_chain import valset_scenario

from greenchain.api import ClientApi, add_client_routes, error_middleware
from greenchain.cli.main import cli
from greenchain.codec import decode, encode
from greenchain.crypto.hashing import sha256
from greenchain.crypto.smt import EMPTY_ROOT, smt_prove, smt_update
from greenchain.errors import DecodeError, Malformed, NotFound, ProofError
from greenchain.ledger.app_hash import smt_key
from greenchain.ledger.view import account_key, bundle_key, device_key
from greenchain.model.blocks import make_block
from greenchain.model.certificates import Account, Bundle
from greenchain.model.fields import from_fields, to_fields
from greenchain.model.genesis import Genesis, genesis_to_json
from greenchain.node.service import NodeService
from greenchain.proof.build import build_provenance
from greenchain.proof.status import (
    assemble_status_proof,
    build_status_proof,
    prove_state_entry,
    verify_status_proof,
)
from greenchain.proof.status_format import (
    STATUS_FORMAT_TAG,
    StateEntry,
    StatusProof,
    StatusReport,
    compute_status_digest,
    decode_status_proof,
    encode_status_proof,
    status_body_fields,
)

OPERATOR, RETAILER, TRADER = (key(name).public for name in ("operator", "retailer", "trader"))
MALLORY = [key(f"mallory_{i}") for i in range(4)]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return provenance_scenario()


@pytest.fixture(scope="module")
def proof_100(scenario: Scenario) -> bytes:
    return build_status_proof(scenario.chain.store, DEVICE_ID, VECTOR_SERIAL)


@pytest.fixture(scope="module")
def parsed_100(proof_100: bytes) -> StatusProof:
    return decode_status_proof(proof_100)


def failing_step(proof: bytes | StatusProof, genesis: Genesis) -> str:
    with pytest.raises(ProofError) as info:
        verify_status_proof(proof, genesis)
    return str(info.value.step)


def forged(proof: StatusProof, **changes: Any) -> bytes:
    """Re-encode a changed proof with a correct digest: a deliberate forgery, not damage."""
    return encode_status_proof(replace(proof, **changes))


def tip_entry(chain: ChainBuilder, state_key: bytes) -> StateEntry:
    return prove_state_entry(chain.store, chain.tip.state_root, state_key)


def status_of(chain: ChainBuilder, serial: int) -> StatusReport:
    return verify_status_proof(build_status_proof(chain.store, DEVICE_ID, serial), chain.genesis)


# --- good proofs ----------------------------------------------------------------------
def test_retired_certificate_verifies_offline(scenario: Scenario, proof_100: bytes) -> None:
    chain = scenario.chain
    report = verify_status_proof(proof_100, chain.genesis)
    assert report.certificate_id == "WT1:100" and report.status == "retired"
    assert report.height == chain.tip.height == scenario.heights["rest"]
    assert (report.time_ms, report.block_hash) == (chain.tip.time_ms, chain.tip.block_hash)
    assert (report.bundle.serial_start, report.bundle.serial_end) == (0, 250)
    assert (report.owner.key, report.owner.name) == (TRADER, "Trader")
    claim = report.bundle.retirement
    assert claim is not None and claim.beneficiary == "Cambridge Estates B2"
    assert (claim.purpose, claim.country, claim.height) == ("disclosure", "GB",
                                                           scenario.heights["retire"])
    assert report.device.device_id == DEVICE_ID and report.device.capacity_w == 2_050_000
    assert report.issuing_body_name == "issuer_0" and report.expires_at_s is None
    assert report.validators == tuple(sorted(k.public for k in validator_keys()))
    text = report.render_text()
    assert "Status: retired" in text and "serials [0, 250) = 250 Wh" in text
    assert "for 'Cambridge Estates B2'" in text and "Expiry: none" in text
    assert "validator_0, validator_1, validator_2, validator_3" in text
    doc = json.loads(report.to_json())
    assert doc["owner"] == {"account": TRADER.hex(), "name": "Trader"}
    # Records are rendered field by field, so new model fields appear without changes here.
    assert set(doc["bundle"]) == set(Bundle.__dataclass_fields__)
    assert doc["bundle"]["parent"] == bundle_id(0, 600).hex()


@pytest.mark.parametrize("serial, expected", [
    (250, ((250, 600), "active", TRADER)),   # rest of the partial retirement
    (650, ((600, 700), "active", TRADER)),   # moved out of the operator's rest
    (700, ((700, 1000), "active", OPERATOR)),
    (1100, ((1000, 1300), "active", RETAILER)),  # moved in its attest block
])
def test_other_certificates_show_their_leaf(scenario: Scenario, serial: int,
                                            expected: tuple[Any, ...]) -> None:
    report = status_of(scenario.chain, serial)
    b = report.bundle
    assert ((b.serial_start, b.serial_end), report.status, report.owner.key) == expected
    assert b.retirement is None


@pytest.mark.parametrize("device_id, serial", [
    (DEVICE_ID, 1800), (DEVICE_ID, -1), (DEVICE_ID, 2**64), ("WT9", 0), ("", 0)])
def test_unknown_certificate_is_not_found(scenario: Scenario, device_id: str,
                                          serial: int) -> None:
    store = scenario.chain.store if device_id else ChainBuilder().store  # "": no block yet
    with pytest.raises(NotFound):
        build_status_proof(store, device_id or DEVICE_ID, serial)


# --- a bundle that changes after a first proof ------------------------------------------
def test_old_proof_holds_for_its_height_and_a_new_one_shows_the_split() -> None:
    chain = ChainBuilder()
    chain.setup_plant()
    chain.attest(DEVICE_ID, PERIOD_START, PERIOD_START + 3600, 1000)
    issued = chain.seal().header.height
    before = build_status_proof(chain.store, DEVICE_ID, VECTOR_SERIAL)
    chain.transfer(key("operator"), bundle_id(0, 1000), 600, key("retailer"))
    split = chain.seal().header.height
    after = build_status_proof(chain.store, DEVICE_ID, VECTOR_SERIAL)

    old = verify_status_proof(before, chain.genesis)
    assert (old.height, old.status, old.owner.name) == (issued, "active", "Operator")
    assert (old.bundle.serial_start, old.bundle.serial_end) == (0, 1000)
    new = verify_status_proof(after, chain.genesis)
    assert (new.height, new.status, new.owner.name) == (split, "active", "Retailer")
    assert (new.bundle.serial_start, new.bundle.serial_end) == (0, 600)
    assert new.bundle.parent == bundle_id(0, 1000)
    # The old record is no longer the state: it cannot pass under the new header, and
    # the parent record that is (now split) is refused as the certificate's status.
    now = decode_status_proof(after)
    stale = replace(decode_status_proof(before), header=now.header, commit=now.commit)
    assert failing_step(encode_status_proof(stale), chain.genesis) == "bundle: state proof"
    parent = replace(stale, bundle=tip_entry(chain, bundle_key(bundle_id(0, 1000))))
    assert failing_step(encode_status_proof(parent), chain.genesis) == "bundle: leaf"


# --- derived expiry ---------------------------------------------------------------------
EXPIRY_S = 2 * DAY_S
EXPIRES_AT_S = PERIOD_START + 3600 + EXPIRY_S
"""2015-03-03T01:00:00Z: the end of the first production hour plus two days."""


def expiry_chain() -> ChainBuilder:
    chain = ChainBuilder()
    chain.genesis = replace(chain.genesis, expiry_s=EXPIRY_S)
    chain.env = replace(chain.env, expiry_s=EXPIRY_S)
    chain.tip = replace(chain.tip, app_hash=chain.genesis.genesis_hash)
    chain.setup_plant()
    chain.attest(DEVICE_ID, PERIOD_START, PERIOD_START + 3600, 1000)
    chain.retire(key("operator"), bundle_id(0, 1000), 100)
    chain.seal()
    return chain


def test_active_certificate_expires_when_block_time_reaches_its_date() -> None:
    chain = expiry_chain()
    chain.seal(time_ms=EXPIRES_AT_S * 1000 - 1)
    report = status_of(chain, 500)
    assert (report.status, report.bundle.status) == ("active", "active")
    assert report.expires_at_s == EXPIRES_AT_S
    assert "Expiry: 2015-03-03T01:00:00Z (not reached)" in report.render_text()
    chain.seal(time_ms=EXPIRES_AT_S * 1000)
    report = status_of(chain, 500)
    assert (report.status, report.bundle.status) == ("expired", "active")
    assert json.loads(report.to_json())["expires_at_iso"] == "2015-03-03T01:00:00Z"
    assert status_of(chain, 50).status == "retired"  # a claim is final: it does not expire


# --- headers and commits ----------------------------------------------------------------
@pytest.mark.parametrize("signers, message", [
    (MALLORY, "quorum"),                                  # non-validators only
    (validator_keys()[:3] + MALLORY[:1], "not a validator"),  # a quorum plus a stranger
    (validator_keys()[:2], "quorum"),                     # 2 of 4 is too few
])
def test_commit_without_a_clean_quorum_fails(signers: list[Any], message: str) -> None:
    chain = ChainBuilder()
    chain.setup_plant()
    chain.attest(DEVICE_ID, PERIOD_START, PERIOD_START + 3600, 1000)
    chain.seal(signers=signers)
    with pytest.raises(ProofError, match=message) as info:
        verify_status_proof(build_status_proof(chain.store, DEVICE_ID, 0), chain.genesis)
    assert info.value.step == "header: commit"


def test_forged_header_fails_on_its_commit(scenario: Scenario, parsed_100: StatusProof) -> None:
    # A self-consistent forged state: the bundle given to mallory, in a map of its own.
    record = from_fields(Bundle, decode(parsed_100.bundle.record))
    mallory = MALLORY[0].public
    entries = {
        bundle_key(record.bundle_id): encode(to_fields(replace(record, owner=mallory))),
        device_key(DEVICE_ID): parsed_100.device.record,
        account_key(mallory): encode(to_fields(Account(mallory, "Mallory", "active",
                                                       key("issuer").public, 1))),
    }
    root, nodes = smt_update(lambda h: None, EMPTY_ROOT,
                             {smt_key(k): sha256(v) for k, v in entries.items()})
    bundle, device, owner = (StateEntry(v, smt_prove(nodes.get, root, smt_key(k)))
                             for k, v in entries.items())
    header = replace(parsed_100.header, state_root=root)
    fake_block = make_block(header, (), None)  # only its hash is signed
    proof = replace(parsed_100, header=header, bundle=bundle, device=device, owner=owner)
    genesis = scenario.chain.genesis
    assert failing_step(proof, genesis) == "header: commit"
    assert failing_step(replace(proof, commit=make_commit(fake_block, MALLORY)),
                        genesis) == "header: commit"
    # The forged map itself is consistent: only the validators' commit stands in the way.
    by_all = replace(proof, commit=make_commit(fake_block, validator_keys()))
    assert verify_status_proof(by_all, genesis).owner.name == "Mallory"
    other_chain = make_genesis(validator_keys(), chain_id="greenchain-other")
    assert failing_step(by_all, other_chain) == "chain id"


# --- forged entries (re-encoded with a correct digest) ----------------------------------
def test_entries_must_be_the_certificates_own(scenario: Scenario,
                                              parsed_100: StatusProof) -> None:
    chain, genesis = scenario.chain, scenario.chain.genesis
    record = from_fields(Bundle, decode(parsed_100.bundle.record))
    other_owner = encode(to_fields(replace(record, owner=RETAILER)))
    cases: list[tuple[str, dict[str, Any]]] = [
        ("bundle: state proof", {"bundle": replace(parsed_100.bundle, record=other_owner)}),
        ("bundle: leaf", {"bundle": tip_entry(chain, bundle_key(bundle_id(0, 600)))}),
        ("bundle: serial", {"bundle": tip_entry(chain, bundle_key(bundle_id(250, 600)))}),
        ("bundle: serial", {"serial": 250}),
        ("bundle: device", {"device_id": "WT2"}),
        ("bundle: record", {"bundle": replace(parsed_100.bundle, record=b"\x93\x01\x02")}),
        ("device: record", {"device": parsed_100.owner}),
        ("device: state proof", {"device": replace(parsed_100.device,
                                                   state_proof=parsed_100.owner.state_proof)}),
        ("owner: state proof", {"owner": tip_entry(chain, account_key(RETAILER))}),
    ]
    for step, changes in cases:
        assert failing_step(forged(parsed_100, **changes), genesis) == step, (step, changes)
    # The serial is the one field left unbound: any serial of the same leaf bundle is true.
    assert verify_status_proof(forged(parsed_100, serial=249), genesis).serial == 249


# --- every byte is bound ----------------------------------------------------------------
def flip(data: bytes, position: int, mask: int) -> bytes:
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1:]


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_any_changed_byte_of_the_file_fails(scenario: Scenario, proof_100: bytes,
                                            mask: int) -> None:
    assert len(proof_100) < 4000  # small enough to try every position
    for position in range(len(proof_100)):
        with pytest.raises((DecodeError, ProofError)):
            verify_status_proof(flip(proof_100, position, mask), scenario.chain.genesis)


def resealed(data: bytes, body: Any) -> bytes:
    return encode([decode(data)[0], body, compute_status_digest(body)])


def test_every_body_byte_is_bound_to_the_chain(scenario: Scenario, proof_100: bytes) -> None:
    # A forger who recomputes the digest must still fail at a named step, except by
    # moving the serial within the same leaf bundle, which is a true proof of that one.
    start, end = 1 + len(encode(STATUS_FORMAT_TAG)), len(proof_100) - 34  # digest: 2 + 32
    body = proof_100[start:end]
    assert body == encode(status_body_fields(decode_status_proof(proof_100)))
    positions = range(0, len(body), max(1, len(body) // 400))
    assert len(positions) >= 300
    outcomes: list[str] = []
    for position in positions:
        try:
            report = verify_status_proof(resealed(proof_100, decode(flip(body, position, 1))),
                                         scenario.chain.genesis)
        except DecodeError:
            outcomes.append("decoding")
            continue
        except ProofError as exc:
            outcomes.append(str(exc.step))
            continue
        assert report.serial != VECTOR_SERIAL and 0 <= report.serial < 250
        outcomes.append("same bundle")
    assert "decoding: digest" not in outcomes and outcomes.count("same bundle") <= 1
    assert {"decoding", "header: commit", "bundle: state proof", "device: state proof",
            "owner: state proof"} <= set(outcomes)


@pytest.mark.parametrize("mutate, error", [
    (lambda b: b + b"\x00", DecodeError),
    (lambda b: b[:-1], DecodeError),
    (lambda b: encode(["greenchain/provenance/v1"] + decode(b)[1:]), Malformed),
    (lambda b: encode(decode(b)[:2]), Malformed),
    (lambda b: b"", DecodeError),
    (lambda b: resealed(b, decode(b)[1][:8]), Malformed),     # a field short
    (lambda b: encode(decode(b)[:2] + [bytes(32)]), ProofError),  # damaged digest
])
def test_malformed_files(proof_100: bytes, mutate: Any, error: type[Exception]) -> None:
    assert encode_status_proof(decode_status_proof(proof_100)) == proof_100  # canonical
    with pytest.raises(error) as info:
        decode_status_proof(mutate(proof_100))
    assert getattr(info.value, "step", "decoding: digest") == "decoding: digest"


# --- across validator-set changes -------------------------------------------------------
def test_status_proof_across_validator_set_changes() -> None:
    valsets = valset_scenario()
    proof = assemble_status_proof(valsets.chain.store, DEVICE_ID, 100)
    assert [s.header.height for s in proof.valset_changes] == [
        valsets.heights["add"], valsets.heights["remove"]]
    report = verify_status_proof(encode_status_proof(proof), valsets.chain.genesis)
    assert report.height == valsets.heights["retire"] and report.status == "retired"
    assert (report.owner.key, report.bundle.serial_end) == (RETAILER, 250)
    assert set(report.validators) == {k.public for k in valsets.shrunk[1:]}  # v[1] left
    # Without the changes the header's commit is checked against the genesis set.
    assert failing_step(replace(proof, valset_changes=()), valsets.chain.genesis) == (
        "header: commit")
    dropped = replace(proof, valset_changes=proof.valset_changes[1:])
    assert failing_step(dropped, valsets.chain.genesis).startswith("validator-set change 1")


# --- API route and CLI --------------------------------------------------------------------
def test_api_serves_the_status_proof(scenario: Scenario, proof_100: bytes) -> None:
    chain = scenario.chain
    service = NodeService(chain.genesis, chain.store, clock=lambda: PERIOD_START + 2 * DAY_S)
    app = web.Application(middlewares=[error_middleware])
    add_client_routes(app, ClientApi(service, lambda: {"chain_id": chain.chain_id},
                                     lambda raws: None))

    async def get(*paths: str) -> list[tuple[int, str, bytes]]:
        async with TestClient(TestServer(app)) as client:
            answers = [await client.get(path) for path in paths]
            return [(a.status, a.content_type, await a.read()) for a in answers]

    good, missing = asyncio.run(get("/v1/proofs/status/WT1:100", "/v1/proofs/status/WT1:1800"))
    assert good == (200, "application/msgpack", proof_100)
    assert missing[0] == 404 and json.loads(missing[2])["rule"] == "not_found"


def test_cli_status_proof_and_verify_both_kinds(scenario: Scenario, proof_100: bytes,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    paths: list[str] = []
    monkeypatch.setattr("greenchain.cli.certs.NodeClient", lambda url: SimpleNamespace(
        get_bytes=lambda path: paths.append(path) or proof_100))
    genesis, status_file = tmp_path / "genesis.json", tmp_path / "status.gcproof"
    genesis.write_text(json.dumps(genesis_to_json(scenario.chain.genesis)), encoding="utf-8")
    provenance_file = tmp_path / "provenance.gcproof"
    provenance_file.write_bytes(build_provenance(scenario.chain.store, DEVICE_ID, 100))

    def verify(path: Path, *flags: str) -> Result:
        return CliRunner().invoke(cli, ["verify", str(path), "--genesis", str(genesis), *flags])

    fetched = CliRunner().invoke(cli, ["status-proof", "WT1:100", "--node", "http://node",
                                       "-o", str(status_file)])
    assert fetched.exit_code == 0 and paths == ["/v1/proofs/status/WT1:100"]
    assert status_file.read_bytes() == proof_100
    status = verify(status_file)
    assert status.exit_code == 0 and "status proof verified" in status.stdout
    assert json.loads(verify(status_file, "--json").stdout)["kind"] == "status"
    provenance = verify(provenance_file, "--json")
    assert provenance.exit_code == 0 and "owners" in json.loads(provenance.stdout)
    status_file.write_bytes(forged(decode_status_proof(proof_100), serial=250))
    bad = verify(status_file)
    assert bad.exit_code == 5 and bad.stderr.strip() == (
        "error: proof_error: bundle: serial: serial 250 is not in the bundle [0, 250)")
