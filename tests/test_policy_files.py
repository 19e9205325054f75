"""Each parameter lives in one file: with the one service that reads it, or in the shared file.

A name defined in two files would let two services read two histories of one parameter; a
service's file may not hold what another service's file does.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from shebao_common.policy import SERVICE_FILE, Policy, parse

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "libs/common/src/shebao_common/policy/data/shared.toml"


def parameter_files() -> list[Path]:
    return [SHARED, *sorted(ROOT.glob(f"services/*/src/shebao_*/domain/{SERVICE_FILE}"))]


def test_every_service_has_its_parameter_file() -> None:
    packages = sorted(p.name for p in ROOT.glob("services/*/src/shebao_*") if p.is_dir())
    with_file = sorted(p.parents[1].name for p in parameter_files()[1:])
    assert with_file == packages


def test_no_parameter_is_defined_in_two_files() -> None:
    where: dict[str, set[str]] = defaultdict(set)
    for path in parameter_files():
        for value in parse(path.read_text(encoding="utf-8"), path.name):
            where[value.name].add(str(path.relative_to(ROOT)))
    twice = {name: sorted(files) for name, files in where.items() if len(files) > 1}
    assert twice == {}


def test_a_service_policy_is_its_file_and_the_shared_one() -> None:
    for path in parameter_files()[1:]:
        package = path.parents[1].name
        own = {v.name for v in parse(path.read_text(encoding="utf-8"))}
        shared = {v.name for v in parse(SHARED.read_text(encoding="utf-8"))}
        assert set(Policy.of(package).names()) == own | shared
