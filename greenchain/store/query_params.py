"""Text query parameters (an HTTP query string) into the filters of `greenchain.store.queries`.

Every function takes the parameters as a plain mapping of text and raises `Malformed`
naming the parameter (``{"rule": "malformed", "parameter": ...}`` on the API), so a bad
parameter is a 400 answer with a rule, never a 500. Empty values count as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from greenchain.errors import Malformed
from greenchain.store.queries import QUERY_STATUSES, BundleQuery

Params = Mapping[str, str]
"""Query parameters: name -> text (e.g. aiohttp's ``request.query``)."""

DEFAULT_PAGE = 100
"""``limit`` when none is given."""
MAX_PAGE = 1000
"""Largest ``limit`` of a listing (larger values are lowered to it)."""
MAX_TEXT = 8192
"""Longest text parameter (device id, beneficiary), characters: its UTF-8 must fit the
2-byte length of an index key (`greenchain.store.schema.text_prefix`)."""
STATUS_NAMES = ", ".join(sorted(QUERY_STATUSES))
"""The statuses a listing accepts, for error messages."""


def bad_parameter(name: str, rule: str) -> Malformed:
    """Return the error for an invalid parameter `name` (message ``parameter NAME: RULE``)."""
    return Malformed(f"query parameter {name}: {rule}", parameter=name)


def param_text(params: Params, name: str, required: bool = False) -> str | None:
    """Return a parameter's text, or None when absent or empty.

    Raises
    ------
    Malformed
        If it is `required` and absent or empty, or longer than `MAX_TEXT`.
    """
    value = params.get(name, "")
    if not value and required:
        raise bad_parameter(name, "is required")
    if len(value) > MAX_TEXT:
        raise bad_parameter(name, f"is longer than {MAX_TEXT} characters")
    return value or None


def param_required(params: Params, name: str) -> str:
    """Return a required text parameter.

    Raises
    ------
    Malformed
        If it is absent, empty or longer than `MAX_TEXT`.
    """
    value = param_text(params, name, required=True)
    if value is None:  # param_text raised already; this narrows the type
        raise bad_parameter(name, "is required")
    return value


def param_time(params: Params, name: str) -> int | None:
    """Return a time parameter as UTC seconds: digits, or ISO 8601 with a zone.

    Raises
    ------
    Malformed
        If it is neither, has fractional seconds, or lies before 1970 or after 2^63 s.
    """
    text = param_text(params, name)
    if text is None:
        return None
    if text.isascii() and text.isdigit():
        seconds = int(text)
    else:
        try:
            moment: datetime | None = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None or moment.microsecond:
            raise bad_parameter(name, "must be UTC seconds or ISO 8601 with a zone, "
                                      "e.g. 2015-03-01T00:00:00Z")
        seconds = int(moment.timestamp())
    # Index keys hold periods as 8 unsigned bytes.
    if not 0 <= seconds < 2**63:
        raise bad_parameter(name, "must lie between 1970 and 2^63 seconds")
    return seconds


def param_period(params: Params) -> tuple[int | None, int | None]:
    """Return (``from``, ``to``) in UTC seconds (from inclusive, to exclusive).

    Raises
    ------
    Malformed
        If either is invalid, or ``to`` is not after ``from``.
    """
    period_from, period_to = param_time(params, "from"), param_time(params, "to")
    if period_from is not None and period_to is not None and period_to <= period_from:
        raise bad_parameter("to", "must be after from")
    return period_from, period_to


def param_limit(params: Params) -> int:
    """Return ``limit`` (default `DEFAULT_PAGE`; above `MAX_PAGE` it is lowered to it).

    Raises
    ------
    Malformed
        If it is not a positive integer.
    """
    text = params.get("limit") or str(DEFAULT_PAGE)
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or int(text) < 1:
        raise bad_parameter("limit", "must be a positive integer")
    return min(int(text), MAX_PAGE)


def param_after(params: Params) -> bytes:
    """Return the ``after`` cursor (hex; empty for the first page).

    Raises
    ------
    Malformed
        If it is not hex.
    """
    try:
        return bytes.fromhex(params.get("after", ""))
    except ValueError as exc:
        raise bad_parameter("after", "must be the hex cursor a page returned as next") from exc


def param_public_key(params: Params, name: str) -> bytes | None:
    """Return a public-key parameter (64 hex digits) as 32 bytes, or None when absent.

    Raises
    ------
    Malformed
        If it is not 64 hex digits.
    """
    text = param_text(params, name)
    if text is None:
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise bad_parameter(name, "must be a public key, 64 hex digits")
    return key


def parse_bundle_query(params: Params) -> tuple[BundleQuery, bytes, int]:
    """Return (filters, after, limit) of ``GET /v1/bundles``.

    Parameters: ``owner`` (hex key), ``device``, ``status`` (a stored status or the
    derived ``expired``, judged at the tip's block time: DESIGN §2), ``from``, ``to``,
    ``after``, ``limit``; all optional.

    Raises
    ------
    Malformed
        If a parameter is invalid (the error names it), e.g. an unknown status.
    """
    owner = param_public_key(params, "owner")
    status = param_text(params, "status")
    if status is not None and status not in QUERY_STATUSES:
        raise bad_parameter("status", f"must be one of {STATUS_NAMES}")
    period_from, period_to = param_period(params)
    query = BundleQuery(owner, param_text(params, "device"), status, period_from, period_to)
    return query, param_after(params), param_limit(params)
