"""Policy parameters: effective-dated data per pooling region, each value with its source.

A rule never hard-codes a rate, age or threshold: it asks `policy.get(name, region, on)` for the
value in force on the event's own date, so replaying a year of events applies each month's rates.
Each service owns its values, in `shebao_<service>/domain/parameters.toml`; those more than one
service reads are the province's shared data, `data/shared.toml` here. `Policy.of(package)` is
both. A value for a region overrides the province-wide one (region "*"). A value marked
`unconfirmed = true` is commonly cited but was not checked against an official text; it stays
visibly marked, and `/policy` shows it.
"""

from __future__ import annotations

import tomllib
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

PROVINCE = "*"


class MissingParameter(LookupError):
    """No value of the parameter is in force for that region on that date: a data gap."""


@dataclass(frozen=True, slots=True)
class ParameterValue:
    name: str
    region: str
    effective_from: date
    value: Any
    source: str
    unconfirmed: bool = False


class Policy:
    def __init__(self, values: Iterable[ParameterValue]) -> None:
        series: dict[tuple[str, str], list[ParameterValue]] = {}
        for v in values:
            series.setdefault((v.name, v.region), []).append(v)
        self._series: dict[tuple[str, str], tuple[list[date], list[ParameterValue]]] = {}
        for key, vs in series.items():
            vs.sort(key=lambda x: x.effective_from)
            dates = [x.effective_from for x in vs]
            if len(set(dates)) != len(dates):
                raise ValueError(f"{key[0]} for {key[1]}: two values take effect on one day")
            self._series[key] = (dates, vs)

    @classmethod
    def of(cls, package: str, extra: Iterable[Path] = ()) -> Policy:
        """A service's parameters and the shared ones: `Policy.of("shebao_enrollment")`; `extra`
        files add values (tests, a region's own file)."""
        return cls.load([*files_of(package), *extra])

    @classmethod
    def load(cls, paths: Iterable[Path | Traversable]) -> Policy:
        """The values of the given parameter files."""
        values: list[ParameterValue] = []
        texts = [(p.name, p.read_text(encoding="utf-8")) for p in paths]
        for name, text in sorted(texts):
            values.extend(parse(text, name))
        return cls(values)

    def entry(self, name: str, region: str, on: date) -> ParameterValue:
        """The value in force on `on`: the region's own series first, then the province's."""
        for key in ((name, region), (name, PROVINCE)):
            found = self._series.get(key)
            if found is None:
                continue
            dates, vs = found
            i = bisect_right(dates, on)
            if i:
                return vs[i - 1]
        raise MissingParameter(f"no value of {name} for region {region} in force on {on}")

    def get(self, name: str, region: str, on: date) -> Any:
        return self.entry(name, region, on).value

    def decimal(self, name: str, region: str, on: date) -> Decimal:
        return Decimal(str(self.get(name, region, on)))

    def table(self, name: str, region: str, on: date) -> Mapping[str, Any]:
        value = self.get(name, region, on)
        if not isinstance(value, Mapping):
            raise TypeError(f"{name} is not a table")
        return value

    def names(self) -> list[str]:
        return sorted({n for n, _ in self._series})

    def describe(self) -> list[dict[str, Any]]:
        """Every value with its source, for the read side and for audits."""
        out: list[dict[str, Any]] = []
        for (_name, _region), (_, vs) in sorted(self._series.items()):
            out.extend(
                {
                    "name": v.name,
                    "region": v.region,
                    "effective_from": v.effective_from.isoformat(),
                    "value": v.value,
                    "source": v.source,
                    "unconfirmed": v.unconfirmed,
                }
                for v in vs
            )
        return out


SHARED = "shared.toml"
SERVICE_FILE = "parameters.toml"


def files_of(package: str) -> list[Traversable]:
    """The parameter files of a service package (`shebao_<service>`): the shared ones, then its
    own `domain/parameters.toml`."""
    shared = resources.files("shebao_common.policy") / "data" / SHARED
    return [shared, resources.files(package) / "domain" / SERVICE_FILE]


def parse(text: str, origin: str = "<policy>") -> list[ParameterValue]:
    """Read `[[parameter]]` tables: name, region, from, value, source, unconfirmed."""
    doc = tomllib.loads(text)
    out = []
    for i, p in enumerate(doc.get("parameter", [])):
        where = f"{origin} parameter #{i + 1}"
        missing = [k for k in ("name", "from", "value", "source") if k not in p]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        if not isinstance(p["from"], date):
            raise ValueError(f"{where}: 'from' must be a TOML date")
        if isinstance(p["value"], float):
            raise ValueError(f"{where}: write decimal values as strings, not floats")
        out.append(
            ParameterValue(
                name=p["name"],
                region=str(p.get("region", PROVINCE)),
                effective_from=p["from"],
                value=p["value"],
                source=p["source"],
                unconfirmed=bool(p.get("unconfirmed", False)),
            )
        )
    return out
