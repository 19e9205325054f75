"""compose.redis-cluster.yaml, the opt-in Redis Cluster for compose, read statically: it is not
started by `make test` (six more containers), so what it promises is checked here. Kubernetes's
cluster (deploy/k8s/components/redis-cluster) is checked by scripts/k8s_check.py."""

from __future__ import annotations

from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from shebao_common.redis_acl import catalog_services
from shebao_devinfra.images import repo_root

ROOT = repo_root()
NODES = ["redis", *(f"redis-{i}" for i in range(1, 6))]
SEEDS = 3
SCRIPTS = "/etc/shebao/redis-cluster"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return data


@pytest.fixture(scope="module")
def cluster() -> dict[str, Any]:
    services: dict[str, Any] = load("compose.redis-cluster.yaml")["services"]
    return services


def test_every_service_of_the_catalog_and_nothing_else_gets_the_cluster_url(
    cluster: dict[str, Any],
) -> None:
    ours = {n: e for n, e in cluster.items() if n not in NODES and n != "redis-cluster-init"}
    assert sorted(ours) == sorted(catalog_services())
    # ... the same entries as compose.yaml's (there, checked against the catalog too)
    base = load("compose.yaml")["services"]
    assert all(base[n].get("profiles") == ["apps"] for n in ours)
    url = "redis+cluster://" + ",".join(f"{n}:6379" for n in NODES[:SEEDS])
    for name, entry in ours.items():
        assert entry["environment"] == {"REDIS_URL": url}, name
        done = entry["depends_on"]["redis-cluster-init"]["condition"]
        assert done == "service_completed_successfully", name


def test_six_nodes_each_with_its_name_and_volume_running_the_kubernetes_script(
    cluster: dict[str, Any],
) -> None:
    volumes = load("compose.redis-cluster.yaml")["volumes"]
    source = next(
        v for v in cluster["redis-1"]["volumes"] if v.endswith(f":{SCRIPTS}:ro")
    ).partition(":")[0]
    assert (ROOT / source / "redis-node.sh").is_file()
    assert (ROOT / source / "redis-cluster-create.sh").is_file()
    data = set()
    for node in NODES:
        entry = cluster[node]
        env = entry["environment"]
        assert env["REDIS_NODE_HOSTNAME"] == node
        assert env["REDIS_ACL_FILE"] == "/data/users.acl"
        assert "SHEBAO_REDIS_ACL_B64" in env and "REDIS_ADMIN_PASSWORD" in env
        script = entry["command"][2]
        assert "base64 -d > /data/users.acl" in script
        assert f"exec sh {SCRIPTS}/redis-node.sh" in script
        (volume,) = [v.split(":")[0] for v in entry["volumes"] if v.endswith(":/data")]
        data.add(volume)
        assert volume == "redis-data" or volume in volumes
    assert len(data) == len(NODES), "each node keeps its own data and nodes.conf"
    # the first node is compose.yaml's single node, its volume kept
    assert "redis-data:/data" in load("compose.yaml")["services"]["redis"]["volumes"]


def test_the_init_forms_the_cluster_from_all_six_once_they_answer(
    cluster: dict[str, Any],
) -> None:
    init = cluster["redis-cluster-init"]
    assert init["entrypoint"] == ["sh", f"{SCRIPTS}/redis-cluster-create.sh"]
    assert init["command"] == [f"{n}:6379" for n in NODES]
    assert {n: d["condition"] for n, d in init["depends_on"].items()} == dict.fromkeys(
        NODES, "service_healthy"
    )
    assert init["restart"] == "no"
    script = (ROOT / "deploy/k8s/components/redis-cluster/redis-cluster-create.sh").read_text()
    assert "--cluster-replicas 1" in script


def test_the_documented_command_is_the_files_own() -> None:
    command = "docker compose -f compose.yaml -f compose.redis-cluster.yaml up -d --wait"
    for doc in ("compose.redis-cluster.yaml", "deploy/README.md", "README.md"):
        assert command in (ROOT / doc).read_text(), doc


def test_kubernetes_seeds_are_the_statefulsets_first_pods() -> None:
    """The component's REDIS_URL names pods of its StatefulSet through its headless Service."""
    folder = ROOT / "deploy/k8s/components/redis-cluster"
    docs = [d for d in yaml.safe_load_all((folder / "redis-cluster.yaml").read_text()) if d]
    (sts,) = [d for d in docs if d["kind"] == "StatefulSet"]
    name, service = sts["metadata"]["name"], sts["spec"]["serviceName"]
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    (platform,) = [g for g in kustomization["configMapGenerator"] if g["name"] == "shebao-platform"]
    url = "REDIS_URL=redis+cluster://" + ",".join(
        f"{name}-{i}.{service}:6379" for i in range(SEEDS)
    )
    assert platform["literals"] == [url]
    (job,) = [d for d in docs if d["kind"] == "Job"]
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[-sts["spec"]["replicas"] :] == [
        f"{name}-{i}.{service}:6379" for i in range(sts["spec"]["replicas"])
    ]
