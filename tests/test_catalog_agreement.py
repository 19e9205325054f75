"""Whatever says which services run, and what each reads and writes, agrees with the catalog.

The catalog (`shebao_contracts.catalog.CONTRACTS`) is the one declaration of the services and
their topics, and a service exists when it has a package under services/. Checked against both:

- services/: a contract for each package, a package for each contract;
- deploy/k8s: a folder base/<service>/ with <service>.yaml for each service and for nothing
  else, listed in base/kustomization.yaml and in each overlay's `images:` (and `replicas:`);
  the manifest's header comment lists under `# Reads` and `# Writes` exactly the topics its
  contract consumes and produces (one per line, `#   <topic> (an optional note)`);
- compose.yaml: one entry per service, built with SERVICE=<service> as image shebao/<service>:dev,
  connecting to Kafka as its own principal shebao-<service> with its own password secret, after
  `kafka-init` (which runs `python -m shebao_common.onboard apply` on a service's image);
- README.md, "What runs where": one row per service; its reads and writes (in backticks) are
  its contract's topics;
- deploy/README.md: the topic table names every topic of the catalog, and under "read by" and
  "written by" the services whose contracts consume and produce it;
- each service's main.py builds its runtime from its contract.

`problems(root)` reads the files under `root`, so the drift tests run it on a doctored copy.
"""

from __future__ import annotations

import importlib
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from shebao_contracts import welfare
from shebao_contracts.catalog import CONTRACTS, all_topics
from shebao_contracts.topics import ServiceContract, Topic

ROOT = Path(__file__).resolve().parents[1]
BASE = Path("deploy/k8s/base")
OVERLAYS = Path("deploy/k8s/overlays")
RUNS_WHERE = "## What runs where"
TOPIC_TABLE = "| topic | written by | read by |"


def problems(root: Path, contracts: Sequence[ServiceContract] = CONTRACTS) -> list[str]:
    """Every disagreement with the catalog under `root`, one sentence each."""
    packages = service_packages(root)
    found = [
        *packages_and_contracts(packages, contracts),
        *manifests(root, packages),
        *overlays(root, packages),
        *compose(root, packages),
    ]
    by_service = {c.service: c for c in contracts if c.service in packages}
    for name in sorted(by_service):
        found += flow_comment(root, by_service[name])
    found += runs_where(root, packages, by_service)
    found += topic_table(root, contracts)
    return found


def service_packages(root: Path) -> set[str]:
    return {d.name for d in (root / "services").iterdir() if (d / "pyproject.toml").is_file()}


def packages_and_contracts(packages: set[str], contracts: Sequence[ServiceContract]) -> list[str]:
    declared = {c.service for c in contracts}
    return [
        *(
            f"services/{name}/: a package with no contract in shebao_contracts.catalog.CONTRACTS"
            for name in sorted(packages - declared)
        ),
        *(
            f"shebao_contracts.catalog.CONTRACTS: {name} has no package under services/ "
            "(list its contract once the service exists)"
            for name in sorted(declared - packages)
        ),
    ]


def compare(where: str, item: str, listed: Iterable[str], packages: set[str]) -> list[str]:
    """Service names listed in a file against the service packages."""
    listed = list(listed)
    out = [f"{where}: has {item} {n!r} twice" for n, k in sorted(Counter(listed).items()) if k > 1]
    out += [
        f"{where}: has {item} {n!r}, but no package services/{n}/ exists"
        for n in sorted(set(listed) - packages)
    ]
    out += [f"{where}: has no {item} {n!r}" for n in sorted(packages - set(listed))]
    return out


def topics_differ(
    where: str, section: str, listed: list[str], declared: list[str], by: str, verb: str
) -> list[str]:
    """Topic names listed in a file against those `by` (a contract, the catalog) declares."""
    out = [
        f"{where}: {section} names {n} twice" for n, k in sorted(Counter(listed).items()) if k > 1
    ]
    out += [
        f"{where}: {section} names {n}, which {by} does not {verb}"
        for n in dict.fromkeys(listed)
        if n not in declared
    ]
    out += [
        f"{where}: {section} leaves out {n}, which {by} {verb}s"
        for n in declared
        if n not in listed
    ]
    return out


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def manifests(root: Path, packages: set[str]) -> list[str]:
    base = root / BASE
    folders = [
        d.name
        for d in sorted(base.iterdir())
        if d.is_dir() and load_yaml(d / "kustomization.yaml").get("kind") != "Component"
    ]
    out = [
        f"{BASE}/{name}/: a manifest for {name!r}, but no package services/{name}/ exists"
        for name in folders
        if name not in packages
    ]
    out += [
        f"{BASE}/{name}/{name}.yaml: missing (every service package has a manifest)"
        for name in sorted(packages)
        if not (base / name / f"{name}.yaml").is_file()
    ]
    resources = load_yaml(base / "kustomization.yaml").get("resources", [])
    out += compare(f"{BASE}/kustomization.yaml", "resource", resources, packages)
    return out


def overlays(root: Path, packages: set[str]) -> list[str]:
    out = []
    for path in sorted((root / OVERLAYS).glob("*/kustomization.yaml")):
        where = str(path.relative_to(root))
        k = load_yaml(path)
        images = [i["name"].removeprefix("shebao/") for i in k.get("images", [])]
        out += compare(where, "image for", images, packages)
        if "replicas" in k:
            out += compare(where, "replicas for", [r["name"] for r in k["replicas"]], packages)
    return out


SIMULATOR = ("partners", "libs/devinfra", "shebao-demo")
"""compose.yaml's one entry of ours that is not a service: the partners' simulator (profile
`partners`), the console script of the package that holds it (built with the services' sources,
whose code it runs and whose policy data it reads)."""


KAFKA_INIT = "kafka-init"
"""compose.yaml's one-shot that gives every service and partner its Kafka principal and ACLs,
on the image of one of the services (it runs no service: its own entrypoint)."""


def kafka_init(entry: dict[str, Any] | None, packages: set[str]) -> list[str]:
    if entry is None:
        return [f"compose.yaml: no {KAFKA_INIT!r} to grant the services their Kafka principals"]
    out = []
    image = str(entry.get("image", ""))
    if image not in {f"shebao/{p}:dev" for p in packages} or "build" in entry:
        out.append(f"compose.yaml: {KAFKA_INIT!r} is image {image}, not a service's own")
    run = [*entry.get("entrypoint", []), *entry.get("command", [])]
    if run[:4] != ["python", "-m", "shebao_common.onboard", "apply"]:
        out.append(f"compose.yaml: {KAFKA_INIT!r} runs {run}, not shebao_common.onboard apply")
    if entry.get("profiles") != ["apps"]:
        out.append(f"compose.yaml: {KAFKA_INIT!r} must run in the profile 'apps'")
    return out


def compose(root: Path, packages: set[str]) -> list[str]:
    entries: dict[str, Any] = load_yaml(root / "compose.yaml")["services"]
    ours = {
        name: entry
        for name, entry in entries.items()
        if "build" in entry or str(entry.get("image", "")).startswith("shebao/")
    }
    out: list[str] = kafka_init(ours.pop(KAFKA_INIT, None), packages)
    name, folder, script = SIMULATOR
    simulator = ours.pop(name, None)
    if simulator is not None:
        args = (simulator.get("build") or {}).get("args") or {}
        if (args.get("SERVICE"), args.get("SCRIPT")) != (Path(folder).name, script):
            out.append(f"compose.yaml: {name!r} is not built from {folder} running {script}")
        elif (
            not (root / folder / "pyproject.toml").exists()
            or script not in (root / folder / "pyproject.toml").read_text()
        ):
            out.append(f"compose.yaml: {name!r} runs {script}, which {folder} does not provide")
        if simulator.get("profiles") != ["partners"]:
            out.append(f"compose.yaml: {name!r} must run only in the profile 'partners'")
    out += compare("compose.yaml", "service", ours, packages)
    for name, entry in sorted(ours.items()):
        built = ((entry.get("build") or {}).get("args") or {}).get("SERVICE")
        if built != name:
            out.append(f"compose.yaml: {name!r} is built with SERVICE={built}, not {name}")
        if entry.get("image") != f"shebao/{name}:dev":
            out.append(
                f"compose.yaml: {name!r} is image {entry.get('image')}, not shebao/{name}:dev"
            )
        env = entry.get("environment") or {}
        user = f"shebao-{name}"
        if env.get("KAFKA_USERNAME") != user or env.get("KAFKA_PASSWORD_FILE") != (
            f"/run/secrets/{user}"
        ):
            out.append(f"compose.yaml: {name!r} does not connect to Kafka as {user}")
        # its own password and, at most, the CA that signed the broker's certificate
        if set(entry.get("secrets") or []) - {"kafka-ca"} != {user}:
            out.append(
                f"compose.yaml: {name!r} mounts secrets {entry.get('secrets')}, not [{user}]"
            )
        done = ((entry.get("depends_on") or {}).get(KAFKA_INIT) or {}).get("condition")
        if done != "service_completed_successfully":
            out.append(f"compose.yaml: {name!r} may start before {KAFKA_INIT} has granted it")
    return out


def flow_sections(text: str) -> dict[str, list[str]]:
    """The topics under `# Reads ...` and `# Writes ...` in a manifest's header comment."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        heading = re.match(r"# (Reads|Writes)\b", line)
        item = re.match(r"#   (\S+)", line)
        if heading:
            current = sections.setdefault(heading.group(1), [])
        elif item and current is not None:
            current.append(item.group(1))
        else:
            current = None
    return sections


def flow_comment(root: Path, contract: ServiceContract) -> list[str]:
    name = contract.service
    path = root / BASE / name / f"{name}.yaml"
    if not path.is_file():
        return []  # reported by manifests()
    where = f"{BASE}/{name}/{name}.yaml"
    sections = flow_sections(path.read_text())
    out = []
    for heading, topics, verb in (
        ("Reads", contract.consumes, "consume"),
        ("Writes", contract.produces, "produce"),
    ):
        declared = [t.name for t in topics]
        listed = sections.get(heading)
        if listed is None:
            lines = "".join(f"\n#   {t}" for t in declared)
            out.append(f"{where}: no '# {heading}' section in the header comment; add{lines}")
        else:
            by = f"the contract of {name}"
            out += topics_differ(where, f"'# {heading}'", listed, declared, by, verb)
    return out


def table(text: str, after: str, where: str) -> list[list[str]] | str:
    """The cells of the first Markdown table from the line `after` on, or what is wrong."""
    lines = text.splitlines()
    if after not in lines:
        return f"{where}: no line {after!r}"
    rows = []
    for line in lines[lines.index(after) :]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    if len(rows) < 2:
        return f"{where}: no table after {after!r}"
    return rows[2:]  # after the header and the |---| line


def backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def runs_where(root: Path, packages: set[str], contracts: dict[str, ServiceContract]) -> list[str]:
    where = "README.md, What runs where"
    rows = table((root / "README.md").read_text(), RUNS_WHERE, where)
    if isinstance(rows, str):
        return [rows]
    out = compare(where, "row for", (r[0] for r in rows), packages)
    for row in rows:
        contract = contracts.get(row[0])
        if contract is None:
            continue
        if len(row) != 4:
            out.append(f"{where}: the row for {row[0]!r} has {len(row)} cells, not 4")
            continue
        by = f"the contract of {row[0]}"
        for cell, column, topics, verb in (
            (row[2], "reads", contract.consumes, "consume"),
            (row[3], "writes", contract.produces, "produce"),
        ):
            section = f"{row[0]}'s {column} column"
            out += topics_differ(where, section, backticked(cell), names(topics), by, verb)
    return out


def names(topics: Iterable[Topic]) -> list[str]:
    return [t.name for t in topics]


def topic_table(root: Path, contracts: Sequence[ServiceContract]) -> list[str]:
    where = "deploy/README.md, topic table"
    rows = table((root / "deploy/README.md").read_text(), TOPIC_TABLE, where)
    if isinstance(rows, str):
        return [rows]
    listed = [topic for row in rows for topic in backticked(row[0])]
    catalog = names(all_topics(contracts))
    out = topics_differ(where, "the table", listed, catalog, "the catalog", "list")
    services = {c.service for c in contracts}
    for row in rows:
        for topic in backticked(row[0]):
            for cell, column, side in (
                (row[1], "written by", "produces"),
                (row[2], "read by", "consumes"),
            ):
                said = set(re.findall(r"[a-z][a-z-]*[a-z]", cell)) & services
                declared = {c.service for c in contracts if topic in names(getattr(c, side))}
                if said != declared:
                    out.append(
                        f"{where}: the {column} cell of {topic} names "
                        f"{', '.join(sorted(said)) or 'no service'}; the contracts say "
                        f"{', '.join(sorted(declared)) or 'no service'}"
                    )
    return out


# --- the repository as it is -----------------------------------------------------------------


def test_the_repository_agrees_with_the_catalog() -> None:
    found = problems(ROOT)
    assert not found, "disagreements with shebao_contracts.catalog.CONTRACTS:\n" + "\n".join(found)


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.service)
def test_each_service_builds_its_runtime_from_its_contract(contract: ServiceContract) -> None:
    (package,) = (ROOT / "services" / contract.service / "src").glob("shebao_*")
    runtime = importlib.import_module(f"{package.name}.main").create_runtime()
    assert runtime.name == contract.service
    assert runtime.produces == list(contract.produces)
    read = sorted({t.name for s in runtime.subscriptions for t in s.topics})
    assert read == sorted(t.name for t in contract.consumes)


# --- drift on a copy: each is caught, and said plainly ---------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The files `problems` reads, copied: README.md, compose.yaml, deploy/, services' manifests."""
    for name in ("README.md", "compose.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    for pyproject in (ROOT / "services").glob("*/pyproject.toml"):
        (tmp_path / "services" / pyproject.parent.name).mkdir(parents=True)
        shutil.copy(pyproject, tmp_path / "services" / pyproject.parent.name / "pyproject.toml")
    (tmp_path / SIMULATOR[1]).mkdir(parents=True)
    shutil.copy(ROOT / SIMULATOR[1] / "pyproject.toml", tmp_path / SIMULATOR[1] / "pyproject.toml")
    assert problems(tmp_path) == []
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def pension_compose_entry(root: Path) -> None:
    edit(
        root / "compose.yaml",
        "\nvolumes:",
        "  pension:\n    build:\n      context: .\n      args: { SERVICE: pension }\n"
        "    image: shebao/pension:dev\n"
        "    environment:\n      KAFKA_USERNAME: shebao-pension\n"
        "      KAFKA_PASSWORD_FILE: /run/secrets/shebao-pension\n"
        "    secrets: [shebao-pension]\n"
        "    depends_on:\n      kafka-init: { condition: service_completed_successfully }\n"
        "\nvolumes:",
    )


def welfare_as_another_principal(root: Path) -> None:
    data = load_yaml(root / "compose.yaml")
    data["services"]["welfare"]["environment"]["KAFKA_USERNAME"] = "shebao-enrollment"
    data["services"]["welfare"]["secrets"] = ["shebao-enrollment", "kafka-ca"]
    (root / "compose.yaml").write_text(yaml.safe_dump(data))


def services_before_kafka_init(root: Path) -> None:
    data = load_yaml(root / "compose.yaml")
    entry = data["services"]["contributions"]
    # (the entries share one depends_on through compose.yaml's anchor)
    entry["depends_on"] = {k: v for k, v in entry["depends_on"].items() if k != "kafka-init"}
    (root / "compose.yaml").write_text(yaml.safe_dump(data))


def no_kafka_init(root: Path) -> None:
    data = load_yaml(root / "compose.yaml")
    del data["services"]["kafka-init"]
    (root / "compose.yaml").write_text(yaml.safe_dump(data))


def no_medical_compose_entry(root: Path) -> None:
    data = load_yaml(root / "compose.yaml")
    del data["services"]["medical-settlement"]
    (root / "compose.yaml").write_text(yaml.safe_dump(data))


def pension_manifest(root: Path) -> None:
    folder = root / BASE / "pension"
    shutil.copytree(root / BASE / "enrollment", folder)
    (folder / "enrollment.yaml").rename(folder / "pension.yaml")
    for f in folder.iterdir():
        f.write_text(f.read_text().replace("enrollment", "pension"))


def pension_image(root: Path) -> None:
    edit(
        root / OVERLAYS / "dev/kustomization.yaml",
        "images:\n",
        "images:\n  - { name: shebao/pension, newTag: dev }\n",
    )


def unlisted_in_base(root: Path) -> None:
    edit(root / BASE / "kustomization.yaml", "  - contributions\n", "")


def wrong_flow_topic(root: Path) -> None:
    edit(
        root / BASE / "contributions/contributions.yaml",
        "#   shebao.enrollment.events.v1\n",
        "#   shebao.enrollment.event.v1\n",
    )


def no_writes_section(root: Path) -> None:
    edit(
        root / BASE / "enrollment/enrollment.yaml",
        "# Writes:\n#   shebao.enrollment.events.v1\n"
        "#   shebao.enrollment.work.v1 (where the state is partitioned: its own hand-offs)\n"
        "#   shebao.enrollment.audit.v1 (every read-side request, audited)\n",
        "",
    )


def missing_readme_row(root: Path) -> None:
    text = (root / "README.md").read_text()
    (root / "README.md").write_text(re.sub(r"(?m)^\| medical-settlement \|.*\n", "", text))


def readme_writes_too_much(root: Path) -> None:
    edit(
        root / "README.md",
        "| `shebao.enrollment.events.v1`, `shebao.enrollment.work.v1`, "
        "`shebao.enrollment.audit.v1` |\n",
        "| `shebao.enrollment.events.v1`, `shebao.enrollment.work.v1`, "
        "`shebao.enrollment.audit.v1`, `shebao.enrollment.commands.v1` |\n",
    )


def reader_left_out(root: Path) -> None:
    edit(
        root / "deploy/README.md",
        "| `shebao.enrollment.commands.v1` | command senders | enrollment |",
        "| `shebao.enrollment.commands.v1` | command senders | nobody yet |",
    )


def package_without_contract(root: Path) -> None:
    (root / "services/pension").mkdir()
    (root / "services/pension/pyproject.toml").write_text('[project]\nname = "shebao-pension"\n')


def simulator_runs_a_missing_script(root: Path) -> None:
    edit(root / "compose.yaml", "SCRIPT: shebao-demo", "SCRIPT: shebao-city")


def simulator_always_on(root: Path) -> None:
    edit(root / "compose.yaml", "    profiles: [partners]\n", "")


DRIFTS: list[tuple[Callable[[Path], None], list[str]]] = [
    (
        simulator_runs_a_missing_script,
        ["compose.yaml: 'partners' is not built from libs/devinfra running shebao-demo"],
    ),
    (
        simulator_always_on,
        ["compose.yaml: 'partners' must run only in the profile 'partners'"],
    ),
    (
        pension_compose_entry,
        ["compose.yaml: has service 'pension', but no package services/pension/ exists"],
    ),
    (no_medical_compose_entry, ["compose.yaml: has no service 'medical-settlement'"]),
    (
        welfare_as_another_principal,
        [
            "compose.yaml: 'welfare' does not connect to Kafka as shebao-welfare",
            "compose.yaml: 'welfare' mounts secrets ['shebao-enrollment', 'kafka-ca'], "
            "not [shebao-welfare]",
        ],
    ),
    (
        services_before_kafka_init,
        ["compose.yaml: 'contributions' may start before kafka-init has granted it"],
    ),
    (
        no_kafka_init,
        ["compose.yaml: no 'kafka-init' to grant the services their Kafka principals"],
    ),
    (
        pension_manifest,
        [
            "deploy/k8s/base/pension/: a manifest for 'pension', "
            "but no package services/pension/ exists"
        ],
    ),
    (
        pension_image,
        [
            "deploy/k8s/overlays/dev/kustomization.yaml: has image for 'pension', "
            "but no package services/pension/ exists"
        ],
    ),
    (unlisted_in_base, ["deploy/k8s/base/kustomization.yaml: has no resource 'contributions'"]),
    (
        wrong_flow_topic,
        [
            "deploy/k8s/base/contributions/contributions.yaml: '# Reads' names "
            "shebao.enrollment.event.v1, which the contract of contributions does not consume",
            "deploy/k8s/base/contributions/contributions.yaml: '# Reads' leaves out "
            "shebao.enrollment.events.v1, which the contract of contributions consumes",
        ],
    ),
    (
        no_writes_section,
        [
            "deploy/k8s/base/enrollment/enrollment.yaml: no '# Writes' section in the header "
            "comment; add\n#   shebao.enrollment.events.v1\n#   shebao.enrollment.work.v1\n"
            "#   shebao.enrollment.audit.v1"
        ],
    ),
    (missing_readme_row, ["README.md, What runs where: has no row for 'medical-settlement'"]),
    (
        readme_writes_too_much,
        [
            "README.md, What runs where: enrollment's writes column names "
            "shebao.enrollment.commands.v1, which the contract of enrollment does not produce"
        ],
    ),
    (
        reader_left_out,
        [
            "deploy/README.md, topic table: the read by cell of shebao.enrollment.commands.v1 "
            "names no service; the contracts say enrollment"
        ],
    ),
    (
        # What a new service's package asks for, everywhere, until its contract is listed.
        package_without_contract,
        [
            "services/pension/: a package with no contract in shebao_contracts.catalog.CONTRACTS",
            "deploy/k8s/base/pension/pension.yaml: missing (every service package has a manifest)",
            "deploy/k8s/base/kustomization.yaml: has no resource 'pension'",
            "deploy/k8s/overlays/dev/kustomization.yaml: has no image for 'pension'",
            "deploy/k8s/overlays/production/kustomization.yaml: has no image for 'pension'",
            "deploy/k8s/overlays/production/kustomization.yaml: has no replicas for 'pension'",
            "compose.yaml: has no service 'pension'",
            "README.md, What runs where: has no row for 'pension'",
        ],
    ),
]


@pytest.mark.parametrize(("drift", "expected"), DRIFTS, ids=[d.__name__ for d, _ in DRIFTS])
def test_drift_is_caught(repo: Path, drift: Callable[[Path], None], expected: list[str]) -> None:
    drift(repo)
    assert problems(repo) == expected


def test_a_contract_without_a_package_is_caught(repo: Path) -> None:
    contract = ServiceContract(
        service="pension", title="", description="", consumes=(), produces=(welfare.EVENTS,)
    )
    found = problems(repo, [*CONTRACTS, contract])
    assert found[0] == (
        "shebao_contracts.catalog.CONTRACTS: pension has no package under services/ "
        "(list its contract once the service exists)"
    )
