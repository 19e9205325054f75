"""Identifiers of made-up people and employers: valid wherever the platform checks them."""

from __future__ import annotations

from datetime import date, timedelta

from shebao_contracts.types import citizen_id_check_char


def with_check_char(first17: str) -> str:
    """Seventeen digits and their GB 11643 (MOD 11-2) check character: an 18-character ID,
    whatever the digits say (a birth date that does not exist stays as it is)."""
    return first17 + citizen_id_check_char(first17)


def citizen_id(area: str, born: date, seq: int) -> str:
    """A valid citizen ID: six-digit area code, birth date, three-digit sequence number (odd for
    a man, even for a woman; taken modulo 1,000) and the check character."""
    return with_check_char(f"{area}{born:%Y%m%d}{seq % 1000:03d}")


def person_citizen_id(
    n: int, area: str = "320102", *, first_born: date = date(1980, 1, 1), days: int | None = None
) -> str:
    """Person n's citizen ID in a made-up population of `area`, the same for the same n.

    Without `days`, a thousand persons are born each day from `first_born` on (sequence number
    n modulo 1,000), so that every n has an ID of its own and the IDs sort as n does. With
    `days`, birth dates are scattered over that many days from `first_born` (day 7919·n modulo
    `days`), so that a small population has all ages; the IDs then repeat every lcm(days, 1000)
    persons when `days` is prime to 7919 (every 16,000 persons for 16,000 days)."""
    day = n // 1000 if days is None else n * 7919 % days
    return citizen_id(area, first_born + timedelta(days=day), n)


def citizen_id_in_region(region: str, born: date, n: int) -> str:
    """The n-th person born on `born` in a region (a six-digit code ending in 00): the region's
    districts 01 to 99 take a thousand persons each, so that the IDs are distinct for the first
    99,000 n of a birth date (they repeat after that)."""
    return citizen_id(f"{region[:4]}{1 + n // 1000 % 99:02d}", born, n)


def wrong_check(cid: str) -> str:
    """The same ID with a wrong check character: refused as `citizen_id_checksum`."""
    return cid[:17] + ("0" if cid[17] != "0" else "1")


def employer_code(region: str, n: int) -> str:
    """Employer n's code in a region (a unified social credit code's shape, 18 characters)."""
    return f"91{region}MA{n:08d}"
