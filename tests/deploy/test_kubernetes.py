"""The Kubernetes chart (deploy/kubernetes): rendered with Helm and validated offline against the
Kubernetes schemas (kubernetes-validate) and the vendored custom-resource schemas by
deploy/kubernetes/tools/check.sh, which installs its tools into .local/ when missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from propfee.settings import ServiceSettings
from propfee.topics import all_topics

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
RENDERED = ROOT / ".local" / "k8s-render"
PORTS = {"billing": 8101, "payments": 8102, "dunning": 8103, "notifier": 8104}


@pytest.fixture(scope="module")
def check() -> subprocess.CompletedProcess[str]:
    """Run the project's check once: tools, topics up to date, render, validate, hadolint."""
    return subprocess.run(
        ["bash", str(K8S / "tools" / "check.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def objects(check: subprocess.CompletedProcess[str], name: str) -> list[dict[str, Any]]:
    assert check.returncode == 0, check.stdout + check.stderr
    docs = yaml.safe_load_all((RENDERED / f"{name}.yaml").read_text())
    return [d for d in docs if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_rendered_manifests_validate_and_dockerfiles_lint(
    check: subprocess.CompletedProcess[str],
) -> None:
    assert check.returncode == 0, check.stdout + check.stderr
    assert "validated" in check.stdout


def test_kafka_topics_template_is_generated_from_the_code() -> None:
    result = subprocess.run(
        [sys.executable, str(K8S / "tools" / "gen_topics.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("render", ["default", "full"])
def test_every_topic_and_dlq_has_a_kafkatopic(
    check: subprocess.CompletedProcess[str], render: str
) -> None:
    topics = {
        d["spec"]["topicName"]: d
        for d in objects(check, render)
        if d["kind"] == "KafkaTopic" and d["apiVersion"] == "kafka.strimzi.io/v1"
    }
    expected = {spec.name: spec for spec in all_topics()}
    assert set(topics) == set(expected)
    for name, spec in expected.items():
        topic = topics[name]["spec"]
        assert topic["partitions"] == spec.partitions
        assert topic["replicas"] == 3
        assert topic["config"]["retention.ms"] == str(spec.retention_ms)
        assert topic["config"]["min.insync.replicas"] == "2"


@pytest.mark.parametrize("render", ["default", "full"])
def test_ports_probes_shutdown_and_security(
    check: subprocess.CompletedProcess[str], render: str
) -> None:
    docs = objects(check, render)
    deployments = of_kind(docs, "Deployment")
    services = of_kind(docs, "Service")
    shutdown = ServiceSettings().shutdown_timeout_s
    for name, port in PORTS.items():
        assert services[name]["spec"]["ports"][0]["port"] == port
        assert f"{name}-api" in deployments
        for deployment in (d for n, d in deployments.items() if n.startswith(f"{name}-")):
            pod = deployment["spec"]["template"]["spec"]
            (container,) = pod["containers"]
            assert container["ports"] == [
                {"name": "http", "containerPort": port, "protocol": "TCP"}
            ]
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            assert container["args"] == ["python", "-m", name, "serve"]
            assert pod["terminationGracePeriodSeconds"] > shutdown + 5
            assert pod["securityContext"]["runAsNonRoot"] is True
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            env = {e["name"]: e["value"] for e in container["env"]}
            background = deployment["metadata"]["name"].endswith("-worker") or (
                f"{name}-worker" not in deployments
            )
            assert env[f"{name.upper()}_CONSUMERS_ENABLED"] == str(background).lower()
            assert env[f"{name.upper()}_RELAY_ENABLED"] == str(background).lower()
    # Every service has a relay and consumers running somewhere.
    for name in PORTS:
        assert f"{name}-worker" in deployments or render == "full"


def test_migrations_run_as_hooks_before_the_rollout(
    check: subprocess.CompletedProcess[str],
) -> None:
    jobs = of_kind(objects(check, "default"), "Job")
    for name in PORTS:
        job = jobs[f"{name}-migrate"]
        assert "pre-upgrade" in job["metadata"]["annotations"]["helm.sh/hook"]
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["python", "-m", name, "migrate"]


@pytest.mark.parametrize("render", ["default", "full"])
def test_only_the_migration_job_holds_the_owner_role(
    check: subprocess.CompletedProcess[str], render: str
) -> None:
    """docs/security.md "Database roles": the Job migrates as the owner; the pods run as the
    runtime role, which cannot ALTER or DROP the audit log."""
    docs = objects(check, render)
    jobs, deployments = of_kind(docs, "Job"), of_kind(docs, "Deployment")

    def secrets_of(pod: dict[str, Any]) -> set[str]:
        (container,) = pod["containers"]
        return {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}

    for name in PORTS:
        job_secrets = secrets_of(jobs[f"{name}-migrate"]["spec"]["template"]["spec"])
        assert job_secrets == {f"propfee-{name}", f"propfee-{name}-migration"}
        for deployment in (d for n, d in deployments.items() if n.startswith(f"{name}-")):
            assert secrets_of(deployment["spec"]["template"]["spec"]) == {f"propfee-{name}"}
    if render == "full":  # the chart makes the Secrets
        made = of_kind(docs, "Secret")
        for name in PORTS:
            assert "MIGRATION_DATABASE_URL" not in made[f"propfee-{name}"]["stringData"]
            owner = made[f"propfee-{name}-migration"]["stringData"]
            assert set(owner) == {"MIGRATION_DATABASE_URL"}
            assert (
                owner["MIGRATION_DATABASE_URL"]
                != made[f"propfee-{name}"]["stringData"]["DATABASE_URL"]
            )


def test_schedules_call_the_as_of_operations(check: subprocess.CompletedProcess[str]) -> None:
    docs = objects(check, "full")
    cronjobs = of_kind(docs, "CronJob")
    operations = {
        c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][2]
        for c in cronjobs.values()
    }
    assert operations == {"billing-run", "dunning-sweep", "reconciliation"}
    script = of_kind(docs, "ConfigMap")["propfee-schedule"]["data"]["schedule.py"]
    for path in ("/communities/{args.community}/billing-runs", "/sweeps", "/reconciliation/"):
        assert path in script


def test_only_payments_webhooks_are_public(check: subprocess.CompletedProcess[str]) -> None:
    docs = objects(check, "default")
    (ingress,) = of_kind(docs, "Ingress").values()
    assert ingress["spec"]["tls"][0]["secretName"]
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    assert {p["path"] for p in paths} == {
        "/webhooks/wechatpay",
        "/webhooks/alipay",
        "/webhooks/unionpay",
    }
    assert {p["backend"]["service"]["name"] for p in paths} == {"payments"}
    policies = of_kind(docs, "NetworkPolicy")
    ingress_controller = {"kubernetes.io/metadata.name": "ingress-nginx"}
    for name, policy in policies.items():
        for rule in policy["spec"].get("ingress", []):
            from_controller = any(
                peer.get("namespaceSelector", {}).get("matchLabels") == ingress_controller
                for peer in rule["from"]
            )
            if from_controller:
                assert name == "payments-api"
                assert rule["ports"] == [{"protocol": "TCP", "port": 8102}]


def test_databases_admit_their_service_only(check: subprocess.CompletedProcess[str]) -> None:
    policies = of_kind(objects(check, "full"), "NetworkPolicy")
    for name in PORTS:
        policy = policies[f"propfee-{name}-database"]
        (rule,) = policy["spec"]["ingress"]
        (peer,) = rule["from"]
        assert peer["podSelector"]["matchLabels"]["propfee.io/database-client"] == name


def test_consumers_autoscale_on_lag_and_everything_is_scraped(
    check: subprocess.CompletedProcess[str],
) -> None:
    default = objects(check, "default")
    scaled = of_kind(default, "ScaledObject")
    for name in PORTS:
        trigger = scaled[f"{name}-worker"]["spec"]["triggers"][0]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == name
        assert scaled[f"{name}-worker"]["spec"]["minReplicaCount"] >= 1
    hpas = of_kind(objects(check, "full"), "HorizontalPodAutoscaler")
    assert hpas["billing-worker"]["spec"]["metrics"][0]["type"] == "External"
    (monitor,) = of_kind(default, "ServiceMonitor").values()
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert len(of_kind(default, "PodDisruptionBudget")) == len(of_kind(default, "Deployment"))
