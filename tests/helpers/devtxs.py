"""Transactions of the dev network, signed with the INSECURE dev keys."""

from __future__ import annotations

import itertools

from greenchain.model.transactions import Attest, RegisterAccount, RegisterDevice, Tx, make_tx
from greenchain.node.devnet import DEV_CHAIN_ID, dev_key

ISSUER = dev_key("issuer")
OPERATOR = dev_key("operator")
RETAILER = dev_key("retailer")
GATEWAY = dev_key("windfarm")
_nonce = itertools.count(1)


def setup_txs(devices: tuple[str, ...] = ("T1",)) -> list[Tx]:
    txs = [
        make_tx(ISSUER, DEV_CHAIN_ID, RegisterAccount(OPERATOR.public, "operator"), next(_nonce)),
        make_tx(ISSUER, DEV_CHAIN_ID, RegisterAccount(RETAILER.public, "retailer"), next(_nonce)),
    ]
    for device in devices:
        body = RegisterDevice(device, device, GATEWAY.public, OPERATOR.public, 2_050_000,
                              "F01050100", "T020001", "FR", 48_449_700, 5_589_600, 0)
        txs.append(make_tx(ISSUER, DEV_CHAIN_ID, body, next(_nonce)))
    return txs


def attest_txs(count: int, device: str = "T1", start: int = 1_425_168_000) -> list[Tx]:
    return [make_tx(GATEWAY, DEV_CHAIN_ID, Attest(device, start + 600 * i, start + 600 * (i + 1),
                                                  1000 + i), next(_nonce))
            for i in range(count)]
