"""The secured broker's settings reach both Kafka images intact: the local image's run.sh and
the official apache/kafka image turn KAFKA_* variables into server.properties entries, each in
its own way, and the official one drops a variable whose value holds a `=`."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from shebao_devinfra.docker import kafka_env, kafka_env_name
from shebao_devinfra.images import KAFKA_RUN
from shebao_devinfra.local import secured_properties, server_jaas

SECURED = {
    k: v for k, v in secured_properties("admin", "pw").items() if not k.endswith("jaas.config")
}
NAMES = [*SECURED, "listener.name.client.scram-sha-512.sasl.jaas.config", "log.dirs"]


def official_image_key(name: str) -> str:
    """apache/kafka's docker/resources/utility ConvertKey: `_` between two other characters is
    `.`, then `___` is `-`, then `__` is `_`, lower case (after KAFKA_ is taken off)."""
    key = name.removeprefix("KAFKA_")
    dotted = re.sub(r"[^_]_[^_]", lambda m: m.group(0).replace("_", "."), key)
    return dotted.replace("___", "-").replace("__", "_").lower()


def run_sh_properties(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The local image's run.sh, up to where it starts Java: the properties it writes."""
    props = tmp_path / "server.properties"
    script = KAFKA_RUN.split("grep -q '^log.dirs='")[0].replace(
        "/var/lib/kafka/server.properties", str(props)
    )
    subprocess.run(["sh", "-c", script], env={"PATH": os.environ["PATH"], **env}, check=True)
    return dict(line.split("=", 1) for line in props.read_text().splitlines())


@pytest.mark.parametrize("name", NAMES)
def test_the_official_image_reads_each_name_back(name: str) -> None:
    assert official_image_key(kafka_env_name(name)) == name


def test_run_sh_reads_every_name_and_value_back(tmp_path: Path) -> None:
    props = {**SECURED, "listener.name.client.scram-sha-512.sasl.jaas.config": "x required;"}
    assert run_sh_properties(kafka_env(props), tmp_path) == props


def test_a_value_the_official_image_would_drop_is_refused() -> None:
    jaas = secured_properties("admin", "pw")["listener.name.client.plain.sasl.jaas.config"]
    with pytest.raises(ValueError, match="would drop"):
        kafka_env({"listener.name.client.plain.sasl.jaas.config": jaas})


def test_the_jaas_file_holds_the_login_modules_of_the_properties() -> None:
    props = secured_properties("admin", "s3cret")
    jaas = server_jaas("admin", "s3cret")
    plain = props["listener.name.client.plain.sasl.jaas.config"]
    assert plain.removesuffix(";").split(" required ")[1] in " ".join(jaas.split())
    assert "ScramLoginModule required;" in jaas
