"""The Docker topology matches the local one (no Docker engine here: checked statically)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"billing": 8101, "payments": 8102, "dunning": 8103, "notifier": 8104}


def test_compose_has_the_same_topology_as_make_up() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"kafka", "postgres", "topics", *PORTS} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.1")
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["topics"]["command"][-3:] == ["-m", "propfee.admin", "topics"]
    for name, port in PORTS.items():
        service = services[name]
        assert service["build"]["dockerfile"] == f"services/{name}/Dockerfile"
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
        env = service["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env[f"{name.upper()}_DATABASE_URL"].endswith(f"/{name}")
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    init_sql = (ROOT / "deploy" / "compose" / "init-databases.sql").read_text()
    for name in PORTS:
        assert f"CREATE DATABASE {name} OWNER propfee_owner" in init_sql


def test_compose_migrates_as_the_owner_and_serves_as_the_runtime_role() -> None:
    """docs/security.md "Database roles": the services never hold the owner's password."""
    services = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]
    for name in PORTS:
        prefix = name.upper()
        migrate = services[f"{name}-migrate"]
        assert migrate["command"] == ["python", "-m", name, "migrate"]
        assert "//propfee_owner:" in migrate["environment"][f"{prefix}_MIGRATION_DATABASE_URL"]
        assert "//propfee:" in migrate["environment"][f"{prefix}_DATABASE_URL"]
        service = services[name]
        condition = service["depends_on"][f"{name}-migrate"]["condition"]
        assert condition == "service_completed_successfully"
        env = service["environment"]
        assert env[f"{prefix}_MIGRATE_ON_START"] == "false"
        assert not any("propfee_owner" in str(value) for value in env.values())


def test_each_service_has_a_dockerfile_serving_its_port() -> None:
    for name, port in PORTS.items():
        dockerfile = (ROOT / "services" / name / "Dockerfile").read_text()
        assert f"--package propfee-{name}" in dockerfile
        assert f"EXPOSE {port}" in dockerfile
        assert f'CMD ["python", "-m", "{name}", "serve"]' in dockerfile
