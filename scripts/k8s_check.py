"""Check one rendered kustomize combination (YAML on stdin) against the platform's rules.

    kustomize build deploy/k8s/overlays/production \\
      | python scripts/k8s_check.py --name overlays/production --profile production

Prints one summary line (`ok` or `FAIL` with the problems under it) and exits 1 on any problem.
Run by scripts/k8s-check.sh for every combination; needs PyYAML (`uv run --with pyyaml`).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

BASE = Path(__file__).resolve().parent.parent / "deploy" / "k8s" / "base"
METRICS = BASE.parent.parent.parent / "libs" / "common" / "src" / "shebao_common" / "metrics.py"
UID = 10001
MIN_GRACE_SECONDS = 40  # shutdown_grace_seconds (25) + uvicorn's extra 5 + slack
MAX_MEMORY_LIMIT = 300 * 2**20
PARTITIONS = 12  # per topic: more consumers than this in one group sit idle
SECRET = "shebao-pseudonym-key"  # noqa: S105 - the Secret's name, not its value
CITIZEN_ID_SECRET = "shebao-citizen-id-key"  # noqa: S105 - the Secret's name, not its value
CITIZEN_ID_SERVICES = frozenset({"enrollment", "contributions"})
TMP = "/tmp"  # noqa: S108 - the path mounted in the container, not used here
KAFKA_CLUSTER = "shebao"  # the Strimzi Kafka resource (shebao_devinfra.k8s_users.CLUSTER)
KAFKA_CA_SECRET = f"{KAFKA_CLUSTER}-cluster-ca-cert"

PRODUCTION_REPLICAS = {"medical-settlement": 3}  # every other service: 2
PRODUCTION_DEFAULT_REPLICAS = 2
HPA = {"medical-settlement": (2, 12)}  # min, max

# Redis: the single node the platform team provides (dev, base), or the cluster of the component
# redis-cluster (production): 3 masters with 1 replica each, every service pointed at it.
SINGLE_NODE_URL = "redis://redis:6379/0"
REDIS_CLUSTER = "redis-cluster"  # the StatefulSet, its headless Service and its instance label
REDIS_CLUSTER_NODES = 6
REDIS_CLUSTER_SEEDS = 3
REDIS_ACL_SECRET = "shebao-redis-acl"  # noqa: S105 - the Secret's name, not its value
REDIS_ADMIN_SECRET = "shebao-redis-admin"  # noqa: S105 - the Secret's name, not its value
CLUSTER_BUS_PORT = 16379

Obj = dict[str, Any]


def services_in_base() -> set[str]:
    """A service is a folder base/<name>/ holding <name>.yaml."""
    return {d.name for d in BASE.iterdir() if (d / f"{d.name}.yaml").is_file()}


def quantity_bytes(q: str | int) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 1e3, "M": 1e6, "G": 1e9}
    m = re.fullmatch(r"([0-9.]+)([KMG]i?)?", str(q))
    if m is None:
        raise ValueError(f"unreadable quantity {q!r}")
    return float(m.group(1)) * units.get(m.group(2) or "", 1)


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class Check:
    def __init__(self, docs: list[Obj]) -> None:
        self.docs = docs
        self.problems: list[str] = []
        self.by_kind: dict[str, list[Obj]] = {}
        for d in docs:
            self.by_kind.setdefault(d["kind"], []).append(d)

    def of(self, kind: str) -> list[Obj]:
        return self.by_kind.get(kind, [])

    def fail(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    # every combination ---------------------------------------------------------------------

    def deployments(self) -> None:
        configmaps = {c["metadata"]["name"]: c for c in self.of("ConfigMap")}
        accounts = {a["metadata"]["name"] for a in self.of("ServiceAccount")}
        for dep in self.of("Deployment"):
            name = dep["metadata"]["name"]
            where = f"Deployment/{name}"
            pod = dep["spec"]["template"]["spec"]
            self._pod_security(where, pod.get("securityContext") or {})
            grace = pod.get("terminationGracePeriodSeconds", 30)
            if grace < MIN_GRACE_SECONDS:
                self.fail(where, f"terminationGracePeriodSeconds {grace} < {MIN_GRACE_SECONDS}")
            if pod.get("automountServiceAccountToken") is not False:
                self.fail(where, "automountServiceAccountToken is not false")
            if pod.get("serviceAccountName") not in accounts:
                self.fail(where, f"ServiceAccount {pod.get('serviceAccountName')!r} not rendered")
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            containers = pod.get("initContainers", []) + pod.get("containers", [])
            if not pod.get("containers"):
                self.fail(where, "no containers")
            for c in containers:
                cwhere = f"{where}/{c['name']}"
                self._container_security(cwhere, c.get("securityContext") or {})
                self._resources(cwhere, c.get("resources") or {})
                self._tmp(cwhere, c, volumes)
                self._config_refs(cwhere, c, configmaps)
                self._kafka_identity(cwhere, name, c, volumes, configmaps)
            for c in pod.get("containers", []):
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    if not c.get(probe):
                        self.fail(f"{where}/{c['name']}", f"no {probe}")
                paths = {
                    p: (c.get(p) or {}).get("httpGet", {}).get("path")
                    for p in ("livenessProbe", "readinessProbe")
                }
                if paths != {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}:
                    self.fail(f"{where}/{c['name']}", f"probe paths {paths}")

    def _pod_security(self, where: str, sc: Obj) -> None:
        if sc.get("runAsNonRoot") is not True:
            self.fail(where, "pod runAsNonRoot is not true")
        if sc.get("runAsUser") != UID:
            self.fail(where, f"pod runAsUser {sc.get('runAsUser')} != {UID}")
        if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            self.fail(where, "pod seccompProfile is not RuntimeDefault")

    def _container_security(self, where: str, sc: Obj) -> None:
        expected = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        }
        for key, value in expected.items():
            if sc.get(key) is not value:
                self.fail(where, f"securityContext.{key} is not {str(value).lower()}")
        if sc.get("privileged"):
            self.fail(where, "privileged")
        if sc.get("runAsUser", UID) == 0:
            self.fail(where, "runs as root")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            self.fail(where, "capabilities do not drop ALL")
        if caps.get("add"):
            self.fail(where, f"adds capabilities {caps['add']}")
        if (sc.get("seccompProfile") or {}).get("type", "RuntimeDefault") != "RuntimeDefault":
            self.fail(where, "container seccompProfile is not RuntimeDefault")

    def _resources(self, where: str, res: Obj, cap: int | None = MAX_MEMORY_LIMIT) -> None:
        """Requests and limits of both; a service's memory at most `cap` (Redis has its own)."""
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(kind) or {}):
                    self.fail(where, f"no {kind}.{r}")
        memory = (res.get("limits") or {}).get("memory")
        if cap is not None and memory is not None and quantity_bytes(memory) > cap:
            self.fail(where, f"memory limit {memory} > 300Mi")

    def _tmp(self, where: str, c: Obj, volumes: dict[str, Obj]) -> None:
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        if "emptyDir" not in volumes.get(mounts.get(TMP, ""), {}):
            self.fail(where, f"{TMP} is not an emptyDir")

    def _kafka_identity(
        self, where: str, service: str, c: Obj, volumes: dict[str, Obj], configmaps: dict[str, Obj]
    ) -> None:
        """SASL_SSL as the service's own principal shebao-<service>: its password from the Secret
        Strimzi creates for that user, the brokers checked against the cluster's CA."""
        env = {e["name"]: e for e in c.get("env", [])}
        shared = {
            k: v
            for src in c.get("envFrom", [])
            for k, v in (
                configmaps.get((src.get("configMapRef") or {}).get("name", ""), {}).get("data")
                or {}
            ).items()
        }
        protocol = (env.get("KAFKA_SECURITY_PROTOCOL") or {}).get("value") or shared.get(
            "KAFKA_SECURITY_PROTOCOL"
        )
        if protocol != "SASL_SSL":
            self.fail(where, f"KAFKA_SECURITY_PROTOCOL is {protocol}, not SASL_SSL")
        user = f"shebao-{service}"
        if (env.get("KAFKA_USERNAME") or {}).get("value") != user:
            self.fail(where, f"KAFKA_USERNAME is not its own principal {user}")
        if "KAFKA_PASSWORD" in env or "KAFKA_PASSWORD" in shared:
            self.fail(where, "KAFKA_PASSWORD in the environment: mount the Secret instead")
        mounts = {m["mountPath"].rstrip("/"): m["name"] for m in c.get("volumeMounts", [])}
        for var, secret, key in (
            ("KAFKA_PASSWORD_FILE", user, "password"),
            ("KAFKA_SSL_CAFILE", KAFKA_CA_SECRET, "ca.crt"),
        ):
            path = (env.get(var) or {}).get("value", "")
            folder, _, file = path.rpartition("/")
            source = (volumes.get(mounts.get(folder, "")) or {}).get("secret") or {}
            paths = {i["key"]: i["path"] for i in source.get("items", [])} or {key: key}
            if source.get("secretName") != secret or paths.get(key) != file:
                self.fail(where, f"{var}={path!r} is not the key {key} of the Secret {secret}")

    def statefulsets(self) -> None:
        """What is not a service (the Redis Cluster's nodes): the same pod and container
        security, resources, the three probes, a headless Service for its pods' names, a
        disruption budget, one pod per Kubernetes node and its data on volumes."""
        accounts = {a["metadata"]["name"] for a in self.of("ServiceAccount")}
        services = {s["metadata"]["name"]: s for s in self.of("Service")}
        for sts in self.of("StatefulSet"):
            name = sts["metadata"]["name"]
            where = f"StatefulSet/{name}"
            template = sts["spec"]["template"]
            pod = template["spec"]
            labels = template["metadata"].get("labels") or {}
            self._workload_pod(where, pod, accounts)
            for c in pod.get("initContainers", []) + pod.get("containers", []):
                self._container_security(f"{where}/{c['name']}", c.get("securityContext") or {})
                self._resources(f"{where}/{c['name']}", c.get("resources") or {}, cap=None)
            for c in pod.get("containers", []):
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    if not c.get(probe):
                        self.fail(f"{where}/{c['name']}", f"no {probe}")
            headless = services.get(sts["spec"].get("serviceName", ""))
            if headless is None or headless["spec"].get("clusterIP") != "None":
                self.fail(
                    where, f"serviceName {sts['spec'].get('serviceName')!r} is no headless Service"
                )
            elif not selects(headless["spec"].get("selector") or {}, labels):
                self.fail(where, "its headless Service does not select its pods")
            if not any(
                selects(p["spec"]["selector"].get("matchLabels") or {}, labels)
                for p in self.of("PodDisruptionBudget")
            ):
                self.fail(where, "no PodDisruptionBudget")
            anti = (pod.get("affinity") or {}).get("podAntiAffinity") or {}
            if not any(
                t.get("topologyKey") == "kubernetes.io/hostname"
                and selects((t.get("labelSelector") or {}).get("matchLabels") or {}, labels)
                for t in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []
            ):
                self.fail(where, "pods may share a Kubernetes node (no required anti-affinity)")
            if not sts["spec"].get("volumeClaimTemplates"):
                self.fail(where, "no volumeClaimTemplates: its data would die with the pod")

    def jobs(self) -> None:
        accounts = {a["metadata"]["name"] for a in self.of("ServiceAccount")}
        for job in self.of("Job"):
            where = f"Job/{job['metadata']['name']}"
            pod = job["spec"]["template"]["spec"]
            self._workload_pod(where, pod, accounts)
            for c in pod.get("initContainers", []) + pod.get("containers", []):
                self._container_security(f"{where}/{c['name']}", c.get("securityContext") or {})
                self._resources(f"{where}/{c['name']}", c.get("resources") or {}, cap=None)

    def _workload_pod(self, where: str, pod: Obj, accounts: set[str]) -> None:
        self._pod_security(where, pod.get("securityContext") or {})
        if pod.get("automountServiceAccountToken") is not False:
            self.fail(where, "automountServiceAccountToken is not false")
        if pod.get("serviceAccountName") not in accounts:
            self.fail(where, f"ServiceAccount {pod.get('serviceAccountName')!r} not rendered")

    def kafka_users(self) -> None:
        """Every service's principal is a Strimzi KafkaUser of the cluster, with SCRAM."""
        users = {u["metadata"]["name"]: u for u in self.of("KafkaUser")}
        for u in users.values():
            where = f"KafkaUser/{u['metadata']['name']}"
            if (u["metadata"].get("labels") or {}).get("strimzi.io/cluster") != KAFKA_CLUSTER:
                self.fail(where, f"not a user of the Strimzi cluster {KAFKA_CLUSTER}")
            if (u["spec"].get("authentication") or {}).get("type") != "scram-sha-512":
                self.fail(where, "authentication is not scram-sha-512")
        for dep in self.of("Deployment"):
            user = f"shebao-{dep['metadata']['name']}"
            if user not in users:
                self.fail(f"Deployment/{dep['metadata']['name']}", f"no KafkaUser {user}")

    def _config_refs(self, where: str, c: Obj, configmaps: dict[str, Obj]) -> None:
        for src in c.get("envFrom", []):
            ref = (src.get("configMapRef") or {}).get("name")
            if ref is not None and ref not in configmaps:
                self.fail(where, f"envFrom ConfigMap {ref} not rendered")
        env = {e["name"]: e for e in c.get("env", [])}
        for e in env.values():
            ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
            if ref and ref.get("key") not in (configmaps.get(ref["name"]) or {}).get("data", {}):
                self.fail(where, f"{e['name']}: ConfigMap key {ref['name']}/{ref['key']} missing")
        secret = ((env.get("SHEBAO_PSEUDONYM_KEY") or {}).get("valueFrom") or {}).get(
            "secretKeyRef"
        )
        if not secret or not secret.get("name", "").startswith(SECRET):
            self.fail(where, f"SHEBAO_PSEUDONYM_KEY does not come from the Secret {SECRET}")
        # the key that opens sealed citizen IDs: enrollment and contributions only, from its Secret
        sealing = ((env.get("SHEBAO_CITIZEN_ID_KEY") or {}).get("valueFrom") or {}).get(
            "secretKeyRef"
        )
        needs = c.get("image", "").split(":")[0].rsplit("/", 1)[-1] in CITIZEN_ID_SERVICES
        if needs and (not sealing or not sealing.get("name", "").startswith(CITIZEN_ID_SECRET)):
            self.fail(
                where, f"SHEBAO_CITIZEN_ID_KEY does not come from the Secret {CITIZEN_ID_SECRET}"
            )
        if not needs and "SHEBAO_CITIZEN_ID_KEY" in env:
            self.fail(
                where, "SHEBAO_CITIZEN_ID_KEY given to a service that must not open citizen IDs"
            )

    def selectors(self) -> None:
        """Every Service and PDB selects the pods of a rendered Deployment or StatefulSet of its
        namespace, every HPA targets a rendered Deployment."""
        pods = [
            (d["metadata"].get("namespace"), d["spec"]["template"]["metadata"].get("labels", {}))
            for d in self.of("Deployment") + self.of("StatefulSet")
        ]
        deployments = {
            (d["metadata"].get("namespace"), d["metadata"]["name"]): d
            for d in self.of("Deployment")
        }
        for svc in self.of("Service"):
            ns, sel = svc["metadata"].get("namespace"), svc["spec"].get("selector") or {}
            if not any(n == ns and selects(sel, labels) for n, labels in pods):
                self.fail(f"Service/{svc['metadata']['name']}", f"selects no pods: {sel}")
        for pdb in self.of("PodDisruptionBudget"):
            ns, sel = pdb["metadata"].get("namespace"), pdb["spec"]["selector"]["matchLabels"]
            if not any(n == ns and selects(sel, labels) for n, labels in pods):
                self.fail(f"PodDisruptionBudget/{pdb['metadata']['name']}", "selects no pods")
        for hpa in self.of("HorizontalPodAutoscaler"):
            ref = hpa["spec"]["scaleTargetRef"]
            if (hpa["metadata"].get("namespace"), ref["name"]) not in deployments:
                self.fail(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}", "no target")

    def all_services(self) -> None:
        rendered = {d["metadata"]["name"] for d in self.of("Deployment")}
        for missing in sorted(services_in_base() - rendered):
            self.fail(f"Deployment/{missing}", "base folder exists but is not rendered")
        for kind in ("Service", "ServiceAccount", "PodDisruptionBudget"):
            names = {o["metadata"]["name"] for o in self.of(kind)}
            for missing in sorted(rendered - names):
                self.fail(f"Deployment/{missing}", f"has no {kind}")

    # per profile and component -------------------------------------------------------------

    def network_policies(self) -> None:
        policies = self.of("NetworkPolicy")
        deny = [
            p
            for p in policies
            if p["spec"].get("podSelector") in ({}, None)
            and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        if not deny:
            self.fail("NetworkPolicy", "no deny-all (empty podSelector, Ingress+Egress, no rules)")
        shebao = {"app.kubernetes.io/part-of": "shebao"}
        flows = {
            "egress to kafka:9092": ("egress", {"app.kubernetes.io/name": "kafka"}, 9092),
            "egress to redis:6379": ("egress", {"app.kubernetes.io/name": "redis"}, 6379),
            "egress to DNS:53": ("egress", None, 53),
            "ingress on 8080": ("ingress", None, 8080),
        }
        for what, (direction, peer, port) in flows.items():
            if not any(self._allows(p, shebao, direction, peer, port) for p in policies):
                self.fail("NetworkPolicy", f"shebao pods have no {what}")
        for server, port in (("kafka", 9092), ("redis", 6379)):
            labels = {"app.kubernetes.io/name": server}
            if not any(self._allows(p, labels, "ingress", shebao, port) for p in policies):
                self.fail("NetworkPolicy", f"{server} pods admit no shebao traffic on {port}")

    @staticmethod
    def _allows(
        policy: Obj, pod: dict[str, str], direction: str, peer: dict[str, str] | None, port: int
    ) -> bool:
        sel = policy["spec"].get("podSelector") or {}
        if not all(pod.get(k) == v for k, v in (sel.get("matchLabels") or {}).items()):
            return False
        side = "to" if direction == "egress" else "from"
        for rule in policy["spec"].get(direction) or []:
            if port not in {p.get("port") for p in rule.get("ports", [])}:
                continue
            if peer is None:
                return True
            for target in rule.get(side, []):
                ps = (target.get("podSelector") or {}).get("matchLabels") or {}
                if "namespaceSelector" not in target and selects(ps, peer):
                    return True
        return False

    def redis(self, cluster: bool) -> None:
        """Where every service's REDIS_URL points: the single node `redis` the platform team
        provides, or the Redis Cluster rendered here (component redis-cluster) and nothing else.
        """
        urls = {
            (c.get("data") or {}).get("REDIS_URL")
            for c in self.of("ConfigMap")
            if c["metadata"]["name"].startswith("shebao-platform")
        }
        sets = {s["metadata"]["name"]: s for s in self.of("StatefulSet")}
        if not cluster:
            if urls != {SINGLE_NODE_URL}:
                self.fail("ConfigMap/shebao-platform", f"REDIS_URL {urls} is not {SINGLE_NODE_URL}")
            if REDIS_CLUSTER in sets:
                self.fail(f"StatefulSet/{REDIS_CLUSTER}", "rendered, but no service uses it")
            return
        sts = sets.get(REDIS_CLUSTER)
        where = f"StatefulSet/{REDIS_CLUSTER}"
        if sts is None:
            self.fail(where, "missing")
            return
        spec = sts["spec"]
        if spec.get("replicas") != REDIS_CLUSTER_NODES:
            self.fail(where, f"replicas {spec.get('replicas')} != {REDIS_CLUSTER_NODES}")
        nodes = [
            f"{REDIS_CLUSTER}-{i}.{spec.get('serviceName')}:6379"
            for i in range(REDIS_CLUSTER_NODES)
        ]
        want = "redis+cluster://" + ",".join(nodes[:REDIS_CLUSTER_SEEDS])
        if urls != {want}:
            self.fail("ConfigMap/shebao-platform", f"REDIS_URL {urls} is not {want}")
        scripts = "".join(
            "".join((c.get("data") or {}).values())
            for c in self.of("ConfigMap")
            if c["metadata"]["name"].startswith(f"{REDIS_CLUSTER}-scripts")
        )
        for setting in (
            "cluster-enabled yes",
            "appendonly yes",
            "maxmemory-policy noeviction",
            "masteruser shebao-admin",
            "masterauth ",
            "cluster-config-file $data/nodes.conf",
            "--cluster-replicas 1",
        ):
            if setting not in scripts:
                self.fail(f"ConfigMap/{REDIS_CLUSTER}-scripts", f"no {setting!r}")
        pod = spec["template"]["spec"]
        claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates") or []}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in pod.get("containers", []):
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            env = {e["name"]: e.get("value", "") for e in c.get("env", [])}
            if mounts.get(env.get("REDIS_DATA", "/data")) not in claims:
                self.fail(
                    f"{where}/{c['name']}", "its data and nodes.conf are not on a volume claim"
                )
            for var, secret in (
                ("REDIS_ACL_FILE", REDIS_ACL_SECRET),
                ("REDIS_ADMIN_PASSWORD_FILE", REDIS_ADMIN_SECRET),
            ):
                folder = env.get(var, "").rpartition("/")[0]
                source = (volumes.get(mounts.get(folder, "")) or {}).get("secret") or {}
                if source.get("secretName") != secret:
                    self.fail(f"{where}/{c['name']}", f"{var} is not from the Secret {secret}")
        creates = [
            j
            for j in self.of("Job")
            for c in j["spec"]["template"]["spec"]["containers"]
            if [*c.get("command", []), *c.get("args", [])][-REDIS_CLUSTER_NODES:] == nodes
        ]
        if not creates:
            self.fail("Job", f"none forms the cluster from {', '.join(nodes)}")
        self._cluster_bus(spec["template"]["metadata"].get("labels") or {})

    def _cluster_bus(self, nodes: dict[str, str]) -> None:
        """The nodes reach each other on the cluster bus (no authentication of its own), and
        nothing else may; the services reach them on 6379."""
        where = f"NetworkPolicy ({REDIS_CLUSTER})"
        policies = self.of("NetworkPolicy")
        shebao = {"app.kubernetes.io/part-of": "shebao"}
        if not any(self._allows(p, nodes, "ingress", nodes, CLUSTER_BUS_PORT) for p in policies):
            self.fail(where, f"the nodes admit no cluster bus ({CLUSTER_BUS_PORT}) from each other")
        if not any(self._allows(p, nodes, "egress", nodes, CLUSTER_BUS_PORT) for p in policies):
            self.fail(
                where, f"the nodes may not reach each other's cluster bus ({CLUSTER_BUS_PORT})"
            )
        if not any(self._allows(p, nodes, "ingress", shebao, 6379) for p in policies):
            self.fail(where, "the nodes admit no shebao traffic on 6379")
        for p in policies:
            sel = (p["spec"].get("podSelector") or {}).get("matchLabels") or {}
            if not all(nodes.get(k) == v for k, v in sel.items()):
                continue
            for rule in p["spec"].get("ingress") or []:
                ports = {q.get("port") for q in rule.get("ports") or []}
                if ports and CLUSTER_BUS_PORT not in ports:
                    continue
                peers = rule.get("from") or [{}]
                for peer in peers:
                    ps = (peer.get("podSelector") or {}).get("matchLabels") or {}
                    if set(peer) != {"podSelector"} or not selects(ps, nodes):
                        self.fail(
                            f"NetworkPolicy/{p['metadata']['name']}",
                            f"admits {peer or 'anyone'} to the cluster bus ({CLUSTER_BUS_PORT})",
                        )

    def hpa(self) -> None:
        hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in self.of("HorizontalPodAutoscaler")}
        for name, (low, high) in HPA.items():
            h = hpas.get(name)
            if h is None:
                self.fail(f"HorizontalPodAutoscaler/{name}", "missing")
                continue
            got = (h["spec"].get("minReplicas"), h["spec"]["maxReplicas"])
            if got != (low, high):
                self.fail(f"HorizontalPodAutoscaler/{name}", f"min/max {got} != {(low, high)}")
        for h in hpas.values():
            if h["spec"]["maxReplicas"] > PARTITIONS:
                self.fail(f"HorizontalPodAutoscaler/{h['metadata']['name']}", "max > partitions")

    def alerts(self) -> None:
        """Every alert reads a metric the runtime exposes, and says what to do."""
        source = METRICS.read_text()
        exposed = set(re.findall(r'"(shebao_[a-z_]+)"', source))
        rules = [
            r for p in self.of("PrometheusRule") for g in p["spec"]["groups"] for r in g["rules"]
        ]
        if not rules:
            self.fail("PrometheusRule", "no alert rules rendered")
        for rule in rules:
            where = f"PrometheusRule alert {rule.get('alert')}"
            for name in re.findall(r"\bshebao_[a-z_]+", rule["expr"]):
                if name not in exposed:
                    self.fail(where, f"reads {name}, which no service exposes")
            if not (rule.get("annotations") or {}).get("description"):
                self.fail(where, "no description saying what to do")
            if (rule.get("labels") or {}).get("severity") not in ("warning", "critical"):
                self.fail(where, "severity is neither warning nor critical")

    def profile(self, profile: str) -> None:
        """dev and production: replicas, image tags and the platform ConfigMap."""
        settings = {
            "dev": ("development", "true"),
            "production": ("production", "false"),
        }[profile]
        cms = [c for c in self.of("ConfigMap") if c["metadata"]["name"].startswith("shebao-")]
        for cm in cms:
            data = cm.get("data", {})
            got = (data.get("SHEBAO_ENVIRONMENT"), data.get("SHEBAO_CREATE_TOPICS"))
            if got != settings:
                self.fail(f"ConfigMap/{cm['metadata']['name']}", f"environment {got}")
        if not cms:
            self.fail("ConfigMap", "no shebao-platform")
        for dep in self.of("Deployment"):
            name = dep["metadata"]["name"]
            want = (
                1
                if profile == "dev"
                else PRODUCTION_REPLICAS.get(name, PRODUCTION_DEFAULT_REPLICAS)
            )
            if dep["spec"].get("replicas", 1) != want:
                self.fail(f"Deployment/{name}", f"replicas {dep['spec'].get('replicas')} != {want}")
            for c in dep["spec"]["template"]["spec"]["containers"]:
                image = c["image"]
                tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else None
                if profile == "dev" and tag != "dev":
                    self.fail(f"Deployment/{name}", f"image {image} is not tagged dev")
                pinned = "@sha256:" in image or tag not in (None, "latest", "dev")
                if profile == "production" and not pinned:
                    self.fail(f"Deployment/{name}", f"image {image} is not pinned")
        for kind in ("StatefulSet", "Job"):
            for obj in self.of(kind):
                for c in obj["spec"]["template"]["spec"]["containers"]:
                    last = c["image"].rsplit("/", 1)[-1]
                    tag = last.rsplit(":", 1)[1] if ":" in last else None
                    pinned = "@sha256:" in c["image"] or tag not in (None, "latest")
                    if profile == "production" and not pinned:
                        self.fail(
                            f"{kind}/{obj['metadata']['name']}", f"image {c['image']} is not pinned"
                        )
        secrets = {s["metadata"]["name"] for s in self.of("Secret")}
        if profile == "production" and any(s.startswith(SECRET) for s in secrets):
            self.fail(f"Secret/{SECRET}", "rendered in production: it must not live in git")
        if profile == "dev" and not any(s.startswith(SECRET) for s in secrets):
            self.fail(f"Secret/{SECRET}", "dev renders no development key")


def summary(docs: Iterable[Obj]) -> str:
    counts = Counter(d["kind"] for d in docs)
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True, help="the combination, for the summary line")
    ap.add_argument("--profile", choices=["base", "dev", "production"], default="base")
    ap.add_argument(
        "--component",
        action="append",
        default=[],
        choices=["network-policies", "hpa", "alerts", "kafka-users", "redis-cluster"],
    )
    args = ap.parse_args(argv)

    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    check = Check(docs)
    check.deployments()
    check.statefulsets()
    check.jobs()
    check.selectors()
    check.all_services()
    components = set(args.component)
    if args.profile == "production":
        # production enables these; its Redis is the cluster
        components |= {"network-policies", "hpa", "redis-cluster"}
    check.redis(cluster="redis-cluster" in components)
    if args.profile != "base":
        components.add("kafka-users")  # both overlays: the services' principals
    if "network-policies" in components:
        check.network_policies()
    if "hpa" in components:
        check.hpa()
    if "alerts" in components:
        check.alerts()
    if "kafka-users" in components:
        check.kafka_users()
    if args.profile != "base":
        check.profile(args.profile)

    if check.problems:
        print(f"FAIL {args.name}: {len(check.problems)} problem(s) in {summary(docs)}")
        for p in check.problems:
            print(f"     {p}")
        return 1
    print(f"ok   {args.name}: {summary(docs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
