"""The HTML retirement statement: content, escaping, links and totals."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from greenchain.model.certificates import Bundle, Retirement, compute_bundle_id
from greenchain.model.views import bundle_json
from greenchain.reports.statement import (
    Statement,
    StatementLine,
    render_statement_html,
    statement_line,
    utc_span,
)

H0 = 1_425_168_000  # 2015-03-01T00:00:00Z
EVIL = '<script>alert("x")</script> & Co'
ISSUER_HEX = "ab" * 32


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [value or "" for name, value in attrs if name == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def retired_bundle(device_id: str, start: int, end: int, beneficiary: str) -> dict[str, Any]:
    claim = Retirement(beneficiary, H0, H0 + 3600, "disclosure", "GB", b"\x02" * 32, 7)
    bundle = Bundle(compute_bundle_id(device_id, start, end), device_id, start, end, H0,
                    H0 + 3600, b"\x01" * 32, "retired", b"\x03" * 32, 2, b"", b"\x02" * 32,
                    claim)
    return bundle_json(bundle)


def device_doc(name: str) -> dict[str, Any]:
    return {"device_id": "WT1", "device_name": name, "country": "FR", "technology": "T020001",
            "issuing_body": ISSUER_HEX}


def parse(page: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(page)
    return collector


def test_line_from_api_records() -> None:
    line = statement_line(retired_bundle("WT1", 100, 350, "ACME"), device_doc("Turbine 1"),
                          {ISSUER_HEX: "Dev Registry"}, "st-proofs/WT1_100.gcproof")
    assert line.quantity_wh == 250 and line.certificates == "WT1:100..349"
    assert (line.issuing_body, line.retirement_height, line.country) == ("Dev Registry", 7, "FR")
    assert (line.consumption_start, line.consumption_end) == (H0, H0 + 3600)
    unnamed = statement_line(retired_bundle("WT1", 0, 1, "ACME"), device_doc("T"), {}, "")
    assert unnamed.issuing_body == ISSUER_HEX


def test_line_needs_a_retired_bundle() -> None:
    bundle = retired_bundle("WT1", 0, 10, "ACME") | {"retirement": None}
    with pytest.raises(TypeError):
        statement_line(bundle, device_doc("T"), {}, "")


def make_statement(beneficiary: str, device_name: str) -> Statement:
    names = {ISSUER_HEX: "Registry <B>"}
    lines = (
        statement_line(retired_bundle("WT1", 0, 250, beneficiary), device_doc(device_name),
                       names, "my proofs/WT1_0.gcproof"),
        statement_line(retired_bundle("WT2", 40, 1040, beneficiary), device_doc(device_name),
                       names, "my proofs/WT2_40.gcproof"),
    )
    return Statement(beneficiary, "greenchain-test", 12, (H0 + 86_400) * 1000, lines)


def test_page_lists_lines_totals_and_how_to_verify() -> None:
    statement = make_statement("ACME Ltd", "Turbine 1")
    page = render_statement_html(statement)
    parsed = parse(page)
    text = "".join(parsed.text)
    assert page.startswith("<!DOCTYPE html>")
    assert parsed.tags.count("tr") == 1 + 2 + 1  # header, two lines, totals
    assert "WT1:0..249" in text and "WT2:40..1039" in text
    assert "2015-03-01 00:00\u201301:00 UTC" in text
    assert "Total: 2 lines, 2 plants" in text and "1250" in text and "0.001250 MWh" in text
    assert "as of block 12 (2015-03-02 00:00:00 UTC)" in text
    assert "greenchain verify FILE --genesis genesis.json" in text
    assert parsed.hrefs == ["my%20proofs/WT1_0.gcproof", "my%20proofs/WT2_40.gcproof"]
    assert statement.total_wh == 1250


def test_every_chain_text_is_escaped() -> None:
    page = render_statement_html(make_statement(EVIL, EVIL))
    parsed = parse(page)
    assert "script" not in parsed.tags
    assert EVIL in "".join(parsed.text)  # shown as text, exactly
    assert "&lt;script&gt;" in page and "Registry &lt;B&gt;" in page


def test_line_without_proof_and_empty_statement() -> None:
    line = StatementLine("00", "WT1", "T", "FR", "T020001", H0, H0 + 600, 0, 5, "IB", 3, H0,
                         H0 + 3600, "")
    page = render_statement_html(Statement("B", "c", 3, 0, (line,)))
    assert parse(page).hrefs == [] and "<td>none</td>" in page
    empty = render_statement_html(Statement("B", "c", 3, 0, ()))
    assert "Total: 0 lines, 0 plants" in empty


def test_utc_span_shows_the_end_date_only_when_it_differs() -> None:
    assert utc_span(H0, H0 + 600) == "2015-03-01 00:00\u201300:10 UTC"
    assert utc_span(H0, H0 + 86_400) == "2015-03-01 00:00\u20132015-03-02 00:00 UTC"
