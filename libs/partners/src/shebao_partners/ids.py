"""Identifiers of made-up people and employers: valid wherever the platform checks them."""

from __future__ import annotations

from datetime import date

from shebao_contracts.types import citizen_id_check_char


def with_check_char(first17: str) -> str:
    """Seventeen digits and their GB 11643 (MOD 11-2) check character: an 18-character ID,
    whatever the digits say (a birth date that does not exist stays as it is)."""
    return first17 + citizen_id_check_char(first17)


def citizen_id(area: str, born: date, seq: int) -> str:
    """A valid citizen ID: six-digit area code, birth date, three-digit sequence number (odd for
    a man, even for a woman; taken modulo 1,000) and the check character."""
    return with_check_char(f"{area}{born:%Y%m%d}{seq % 1000:03d}")


def wrong_check(cid: str) -> str:
    """The same ID with a wrong check character: refused as `citizen_id_checksum`."""
    return cid[:17] + ("0" if cid[17] != "0" else "1")


def employer_code(region: str, n: int) -> str:
    """Employer n's code in a region (a unified social credit code's shape, 18 characters)."""
    return f"91{region}MA{n:08d}"
