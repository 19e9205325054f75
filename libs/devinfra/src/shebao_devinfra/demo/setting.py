"""The demo's province: regions, their people, hospitals and tax bureaus, and its calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from shebao_common.policy import Policy
from shebao_contracts import medical as m

REGIONS = {"320100": "Nanjing", "320500": "Suzhou", "321300": "Suqian"}
T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)  # the day at the counters
MONTH = "2025-03"  # the month the employers, the bureaus and the hospitals then go through
# Per region: employees, residents, flexible workers out of PEOPLE registered people.
PEOPLE = 1000
MIX = {"320100": (660, 280, 30), "320500": (640, 250, 70), "321300": (520, 240, 60)}
# Hospitals: code, level, region (the codes are assigned when a hospital is designated)
HOSPITALS = [
    ("h320102001", m.HospitalLevel.TERTIARY, "320100"),
    ("h320508002", m.HospitalLevel.SECONDARY, "320500"),
    ("h321302003", m.HospitalLevel.PRIMARY, "321300"),
]
# Wuxi: the unemployment story's region, apart from the others (a year of its own history)
WUXI = "320200"
WUXI_BUREAU = str(Policy.of("shebao_contributions").get("tax.bureau", WUXI, date(2025, 1, 1)))
WUXI_STATS = str(
    Policy.of("shebao_unemployment_subsidies").get("stats.bureau", WUXI, date(2025, 1, 1))
)
# a Wuxi hospital, registered by the welfare story for a supported person's stay
WUXI_HOSPITAL = ("h320213004", m.HospitalLevel.SECONDARY, WUXI)
# Changzhou: the city the demo then simulates for several months, apart from the stories above:
# its own tax bureau, statistics bureau, three hospitals and civil-affairs office.
CITY = "320400"
CITY_NAME = "Changzhou"
CITY_BUREAU = str(Policy.of("shebao_contributions").get("tax.bureau", CITY, date(2025, 1, 1)))
CITY_STATS = str(
    Policy.of("shebao_unemployment_subsidies").get("stats.bureau", CITY, date(2025, 1, 1))
)
CITY_HOSPITALS = [
    ("h320402001", m.HospitalLevel.TERTIARY, CITY),
    ("h320411002", m.HospitalLevel.SECONDARY, CITY),
    ("h320412003", m.HospitalLevel.PRIMARY, CITY),
]
BUREAUS = {
    region: str(Policy.of("shebao_contributions").get("tax.bureau", region, date(2025, 3, 1)))
    for region in REGIONS
}
D = Decimal


def at(day: int, hour: int = 9, month: int = 4) -> datetime:
    """A moment of 2025 (by default in April, after the month the demo goes through)."""
    return datetime(2025, month, day, hour, tzinfo=UTC)
