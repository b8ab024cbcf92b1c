"""The retirement (cancellation) statement of a beneficiary, as one self-contained HTML page.

One line per retired bundle: the plant (device id, name, country, EECS technology), the
production period, the certificates (``device:first..last``, both inclusive), the Wh,
the issuing body, the height of the block that retired it, the consumption period the
claim names, and the provenance proof file that backs the line. Every text that comes
from the chain is escaped (``html.escape``), so a beneficiary or device name can never
inject markup.
"""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from greenchain.model.views import mwh_text

STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;font-size:0.9em}"
    "th,td{border:1px solid #bbb;padding:0.3em 0.6em;text-align:left;vertical-align:top}"
    "td.num,th.num{text-align:right}tfoot td{font-weight:bold}code{font-size:0.95em}"
)


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One retired bundle on the statement."""

    bundle_id: str
    """Bundle id, hex."""
    device_id: str
    """Producing device."""
    device_name: str
    """Its name."""
    country: str
    """Its country (ISO 3166-1 alpha-2)."""
    technology: str
    """Its EECS technology code."""
    period_start: int
    """Production period start, UTC seconds."""
    period_end: int
    """Production period end, UTC seconds (exclusive)."""
    serial_start: int
    """First certificate serial (Wh), inclusive."""
    serial_end: int
    """End serial, exclusive."""
    issuing_body: str
    """The issuing body's name, or its key in hex."""
    retirement_height: int
    """Height of the block that retired the bundle."""
    consumption_start: int
    """Consumption period of the claim, start, UTC seconds."""
    consumption_end: int
    """Consumption period of the claim, end, UTC seconds (exclusive)."""
    proof_path: str
    """Path of the proof file relative to the statement (``/``-separated), or ""."""

    @property
    def quantity_wh(self) -> int:
        """Wh (certificates) of the line."""
        return self.serial_end - self.serial_start

    @property
    def certificates(self) -> str:
        """``device:first..last`` (both inclusive)."""
        return f"{self.device_id}:{self.serial_start}..{self.serial_end - 1}"


@dataclass(frozen=True, slots=True)
class Statement:
    """A beneficiary's statement as of one block."""

    beneficiary: str
    """The beneficiary the bundles were retired for."""
    chain_id: str
    """The chain."""
    height: int
    """Height of the node's last block when the statement was made."""
    time_ms: int
    """Time of that block, UTC milliseconds."""
    lines: tuple[StatementLine, ...]
    """The retired bundles."""

    @property
    def total_wh(self) -> int:
        """Wh of every line."""
        return sum(line.quantity_wh for line in self.lines)


def statement_line(bundle: Mapping[str, Any], device: Mapping[str, Any],
                   issuing_bodies: Mapping[str, str], proof_path: str) -> StatementLine:
    """Build a line from a retired bundle and its device as the client API renders them.

    Parameters
    ----------
    bundle:
        ``GET /v1/bundles/{id}`` JSON of a retired bundle (its ``retirement`` set).
    device:
        ``GET /v1/devices/{id}`` JSON of its device.
    issuing_bodies:
        Issuing body key (hex) -> name, e.g. from genesis; unknown keys show as hex.
    proof_path:
        The proof file, relative to the statement, ``/``-separated ("" for none).

    Raises
    ------
    KeyError, TypeError
        If a record lacks a field or the bundle is not retired.
    """
    claim = bundle["retirement"]
    return StatementLine(
        bundle_id=str(bundle["bundle_id"]), device_id=str(bundle["device_id"]),
        device_name=str(device["device_name"]), country=str(device["country"]),
        technology=str(device["technology"]),
        period_start=int(bundle["period_start"]), period_end=int(bundle["period_end"]),
        serial_start=int(bundle["serial_start"]), serial_end=int(bundle["serial_end"]),
        issuing_body=issuing_bodies.get(str(device["issuing_body"]),
                                        str(device["issuing_body"])),
        retirement_height=int(claim["height"]),
        consumption_start=int(claim["consumption_start"]),
        consumption_end=int(claim["consumption_end"]), proof_path=proof_path)


def utc_span(start: int, end: int) -> str:
    """Return ``2015-03-01 00:00–01:00 UTC`` (the end's date shown when it differs)."""
    first, last = (datetime.fromtimestamp(t, UTC) for t in (start, end))
    fmt = "%H:%M" if first.date() == last.date() else "%Y-%m-%d %H:%M"
    return f"{first:%Y-%m-%d %H:%M}\u2013{last.strftime(fmt)} UTC"


def render_statement_html(statement: Statement) -> str:
    """Return the statement as one HTML page (UTF-8 text, no external resources).

    Parameters
    ----------
    statement:
        The beneficiary, the block it is made as of, and the lines.

    Returns
    -------
    str
        The page: header, one table row per line, totals, and how to verify a line
        offline with ``greenchain verify FILE --genesis genesis.json``.
    """
    esc = html.escape
    title = f"Retirement statement: {statement.beneficiary}"
    as_of = datetime.fromtimestamp(statement.time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{esc(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Certificates retired (cancelled) for <strong>{esc(statement.beneficiary)}"
        f"</strong> on chain <code>{esc(statement.chain_id)}</code>, as of block "
        f"{statement.height} ({esc(as_of)} UTC). One certificate is 1 Wh.</p>",
        _table(statement), _verify_paragraph(), "</body>", "</html>",
    ]
    return "\n".join(parts) + "\n"


def _table(statement: Statement) -> str:
    heads = ("#", "Plant", "Production period", "Certificates (first..last)", "Wh",
             "Issuing body", "Retired at block", "Consumption period", "Proof")
    head = "".join(f'<th{_num(h)}>{html.escape(h)}</th>' for h in heads)
    rows = [_row(number, line) for number, line in enumerate(statement.lines, start=1)]
    plants = len({line.device_id for line in statement.lines})
    total = statement.total_wh
    foot = (f'<tr><td colspan="4">Total: {len(statement.lines)} lines, {plants} plants</td>'
            f'<td class="num">{total}</td><td colspan="4">{mwh_text(total)} MWh</td></tr>')
    return (f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows)
            + f"\n</tbody><tfoot>{foot}</tfoot></table>")


def _num(heading: str) -> str:
    return ' class="num"' if heading in ("#", "Wh", "Retired at block") else ""


def _row(number: int, line: StatementLine) -> str:
    esc = html.escape
    plant = (f"<code>{esc(line.device_id)}</code> {esc(line.device_name)}<br>"
             f"{esc(line.country)}, {esc(line.technology)}")
    proof = "none"
    if line.proof_path:
        href = esc(urllib.parse.quote(line.proof_path))
        proof = f'<a href="{href}">{esc(line.proof_path)}</a>'
    cells = (
        f'<td class="num">{number}</td>', f"<td>{plant}</td>",
        f"<td>{esc(utc_span(line.period_start, line.period_end))}</td>",
        f"<td><code>{esc(line.certificates)}</code></td>",
        f'<td class="num">{line.quantity_wh}</td>', f"<td>{esc(line.issuing_body)}</td>",
        f'<td class="num">{line.retirement_height}</td>',
        f"<td>{esc(utc_span(line.consumption_start, line.consumption_end))}</td>",
        f"<td>{proof}</td>",
    )
    return "<tr>" + "".join(cells) + "</tr>"


def _verify_paragraph() -> str:
    return (
        "<h2>Checking a line</h2>\n<p>Each line links to a provenance proof file of its "
        "first certificate; every certificate of a line shares that history. Anyone can "
        "check a line offline, with no access to the ledger, given the chain's "
        "<code>genesis.json</code> from a source they trust:</p>\n"
        "<pre><code>greenchain verify FILE --genesis genesis.json</code></pre>\n"
        "<p>It exits with status 0 when every signature, Merkle path and validator commit "
        "holds, and prints the plant, the production period, the certificate range, each "
        "owner in turn, the retirement claim (beneficiary and consumption period) and the "
        "validators that committed each step; any change to the file makes it fail. A "
        "proof shows the history up to the retirement, which is final: retired "
        "certificates never move again.</p>"
    )
