"""The Kubernetes chart (deploy/kubernetes): rendered with Helm and validated offline against the
Kubernetes schemas (kubernetes-validate) and the vendored custom-resource schemas by
deploy/kubernetes/tools/check.sh, which installs its tools into .local/ when missing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from propfee.console import content_security_policy
from propfee.kafka_acls import service_acls
from propfee.settings import KafkaSecurity, ServiceSettings
from propfee.topics import PRODUCTION_REPLICATION, all_topics
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
RENDERED = ROOT / ".local" / "k8s-render"
PORTS = {"billing": 8101, "payments": 8102, "dunning": 8103, "notifier": 8104}


def objects(check: subprocess.CompletedProcess[str], name: str) -> list[dict[str, Any]]:
    assert check.returncode == 0, check.stdout + check.stderr
    docs = yaml.safe_load_all((RENDERED / f"{name}.yaml").read_text())
    return [d for d in docs if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def service_deployments(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The services' Deployments (api and worker), not the console's nginx."""
    return [d for n, d in of_kind(docs, "Deployment").items() if n != "propfee-console"]


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
        assert topic["replicas"] == PRODUCTION_REPLICATION.factor == 3
        assert topic["config"]["retention.ms"] == str(spec.retention_ms)
        assert topic["config"]["min.insync.replicas"] == "2"
        assert PRODUCTION_REPLICATION.min_insync_replicas == 2


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
    assert operations == {
        "billing-runs-due", "dunning-sweep", "late-fees", "expire-orders", "reconciliation"
    }  # fmt: skip
    # Billing runs and late fees: one CronJob each for every community (the communities and
    # their schedules are billing's data), no per-community job listed by hand.
    billing = sorted(
        name for name, c in cronjobs.items()
        if c["metadata"]["labels"]["app.kubernetes.io/name"] == "billing"
    )  # fmt: skip
    assert billing == ["billing-runs-due", "late-fees"]
    for name in billing:
        args = cronjobs[name]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
            "args"
        ]
        assert "--community" not in args and args[-1] == "http://billing:8101"
    assert cronjobs["billing-runs-due"]["spec"]["schedule"] == "45 1 * * *"  # values-full
    assert cronjobs["late-fees"]["spec"]["schedule"] == "0 2 * * *"
    assert cronjobs["expire-orders"]["spec"]["schedule"] == "*/10 * * * *"
    script = of_kind(docs, "ConfigMap")["propfee-schedule"]["data"]["schedule.py"]
    for path in (
        "/billing-runs/due", "/sweeps", "/reconciliation/", "/late-fee-assessments",
        "/orders/expire",
    ):  # fmt: skip
        assert path in script


def test_only_payments_webhooks_are_public(check: subprocess.CompletedProcess[str]) -> None:
    docs = objects(check, "default")
    ingresses = of_kind(docs, "Ingress")
    assert set(ingresses) == {"payments-webhooks", "propfee-console"}
    ingress = ingresses["payments-webhooks"]
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
            if from_controller:  # the webhooks, and the staff console's own host
                assert name in ("payments-api", "propfee-console")
                port = 8102 if name == "payments-api" else 8080
                assert rule["ports"] == [{"protocol": "TCP", "port": port}]


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


def test_kafka_users_template_is_generated_from_the_code() -> None:
    result = subprocess.run(
        [sys.executable, str(K8S / "tools" / "gen_users.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("render", ["default", "full"])
def test_every_service_has_a_kafka_user_with_the_generated_acls(
    check: subprocess.CompletedProcess[str], render: str
) -> None:
    users = of_kind(objects(check, render), "KafkaUser")
    assert set(users) == {f"propfee-kafka-{name}" for name in PORTS}
    for name in PORTS:
        spec = users[f"propfee-kafka-{name}"]["spec"]
        assert spec["authentication"] == {"type": "scram-sha-512"}
        assert spec["authorization"]["type"] == "simple"
        assert spec["authorization"]["acls"] == [acl.strimzi() for acl in service_acls(name)]
    # Least privilege, read off the rendered objects: payments alone writes payments'
    # topics, and only the subscribers read the contacts topic.
    writers = {
        name
        for name in PORTS
        for acl in users[f"propfee-kafka-{name}"]["spec"]["authorization"]["acls"]
        if acl["resource"]["name"] == "payments.payment-received" and "Write" in acl["operations"]
    }
    assert writers == {"payments"}
    readers = {
        name
        for name in PORTS
        for acl in users[f"propfee-kafka-{name}"]["spec"]["authorization"]["acls"]
        if acl["resource"]["name"] == "billing.party-contacts-updated"
        and "Read" in acl["operations"]
    }
    assert readers == {"notifier", "dunning"}  # dunning: the evidence names the debtor


def kafka_env(docs: list[dict[str, Any]], deployment: dict[str, Any]) -> dict[str, str]:
    """The Kafka settings a Deployment's container gets (common ConfigMap + its own env)."""
    common = of_kind(docs, "ConfigMap")["propfee-common"]["data"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    return {k: v for k, v in {**common, **env}.items() if k.startswith("KAFKA_")}


@pytest.mark.parametrize("render", ["default", "full"])
def test_pods_log_in_to_kafka_as_their_own_user(
    check: subprocess.CompletedProcess[str], render: str
) -> None:
    docs = objects(check, render)
    ca_secret = "propfee-cluster-ca-cert" if render == "default" else "propfee-kafka-ca"
    for deployment in service_deployments(docs):
        service = deployment["metadata"]["labels"]["app.kubernetes.io/name"]
        env = kafka_env(docs, deployment)
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["KAFKA_SASL_USERNAME"] == f"propfee-kafka-{service}"
        assert env["KAFKA_BOOTSTRAP_SERVERS"].endswith(":9093")
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert volumes["kafka-user"]["secret"]["secretName"] == f"propfee-kafka-{service}"
        password = volumes["kafka-user"]["secret"]["items"][0]
        assert env["KAFKA_SASL_PASSWORD_FILE"] == f"{mounts['kafka-user']}/{password['path']}"
        assert password["key"] == "password"  # the key of Strimzi's KafkaUser Secret
        assert volumes["kafka-ca"]["secret"]["secretName"] == ca_secret
        ca = volumes["kafka-ca"]["secret"]["items"][0]
        assert env["KAFKA_SSL_CAFILE"] == f"{mounts['kafka-ca']}/{ca['path']}"
        # What the pods get is valid for the services' own loader (no unknown KAFKA_* name).
        security = KafkaSecurity(**{k: v for k, v in env.items() if k != "KAFKA_BOOTSTRAP_SERVERS"})
        assert security.uses_sasl and security.uses_ssl


def test_keda_reads_the_lag_as_the_services_user(check: subprocess.CompletedProcess[str]) -> None:
    docs = objects(check, "default")
    auths = of_kind(docs, "TriggerAuthentication")
    for name, scaled in of_kind(docs, "ScaledObject").items():
        service = name.removesuffix("-worker")
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["metadata"]["sasl"] == "scram_sha512"
        assert trigger["metadata"]["tls"] == "enable"
        auth = auths[trigger["authenticationRef"]["name"]]["spec"]
        refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["secretTargetRef"]}
        assert refs["password"] == (f"propfee-kafka-{service}", "password")
        assert refs["ca"] == ("propfee-cluster-ca-cert", "ca.crt")
        (username,) = auth["env"]
        assert username == {
            "parameter": "username",
            "name": "KAFKA_SASL_USERNAME",
            "containerName": service,
        }


def test_without_kafka_security_nothing_of_it_is_rendered(
    check: subprocess.CompletedProcess[str],
) -> None:
    docs = objects(check, "plaintext")
    assert not of_kind(docs, "KafkaUser")
    assert not of_kind(docs, "TriggerAuthentication")
    for deployment in service_deployments(docs):
        env = kafka_env(docs, deployment)
        assert env == {
            "KAFKA_BOOTSTRAP_SERVERS": "propfee-kafka-bootstrap.kafka.svc:9092",
            "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        }
        volumes = {v["name"] for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes == {"tmp"}
    for scaled in of_kind(docs, "ScaledObject").values():
        assert "authenticationRef" not in scaled["spec"]["triggers"][0]


def egress_rules(policy: dict[str, Any]) -> list[dict[str, Any]]:
    rules = policy["spec"].get("egress", [])
    for rule in rules:
        assert rule.get("to"), f"{policy['metadata']['name']}: a rule without `to` opens all"
        for peer in rule["to"]:  # the API server refuses an ipBlock combined with selectors
            assert "ipBlock" not in peer or len(peer) == 1, policy["metadata"]["name"]
    return rules


def external_cidrs(rules: list[dict[str, Any]], port: int) -> set[str]:
    return {
        peer["ipBlock"]["cidr"]
        for rule in rules
        if {"protocol": "TCP", "port": port} in rule.get("ports", [])
        for peer in rule["to"]
        if "ipBlock" in peer
    }


@pytest.mark.parametrize("render", ["default", "plaintext"])
def test_by_default_nothing_leaves_the_cluster(
    check: subprocess.CompletedProcess[str], render: str
) -> None:
    """No CIDRs configured: DNS, Kafka and the database, nothing else."""
    policies = of_kind(objects(check, render), "NetworkPolicy")
    kafka_port = 9093 if render == "default" else 9092
    for name, policy in policies.items():
        for rule in egress_rules(policy):
            ports = {p["port"] for p in rule["ports"]}
            assert ports <= {53, 5432, kafka_port, *PORTS.values()}, (name, rule)
            for peer in rule["to"]:
                assert peer.get("ipBlock", {}).get("cidr") != "0.0.0.0/0", name


def test_external_egress_only_to_the_configured_cidrs(
    check: subprocess.CompletedProcess[str],
) -> None:
    """Every service reaches the identity provider's JWKS (billing and dunning included);
    gateways are payments' alone, message providers notifier's alone."""
    policies = of_kind(objects(check, "full"), "NetworkPolicy")
    identity_provider = {"203.0.113.10/32"}
    keycloak = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keycloak"}}}
    expected_443 = {
        "billing": identity_provider,
        "dunning": identity_provider,
        "payments": identity_provider | {"198.51.100.0/24", "192.0.2.0/28"},
        "notifier": identity_provider | {"198.51.100.128/25"},
    }
    for service, cidrs in expected_443.items():
        rules = egress_rules(policies[f"{service}-egress"])
        assert external_cidrs(rules, 443) == cidrs, service
        assert any(keycloak in rule["to"] for rule in rules), service
        smtp = external_cidrs(rules, 587)
        assert smtp == ({"198.51.100.128/25"} if service == "notifier" else set()), service
    for policy in policies.values():
        egress_rules(policy)
    schedule = egress_rules(policies["propfee-schedule-egress"])
    assert external_cidrs(schedule, 443) == {"10.20.0.0/16"}


NGINX = ROOT / ".local" / "bin" / "nginx"  # check.sh extracts it from Debian's nginx package
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def console_files(docs: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = of_kind(docs, "ConfigMap")["propfee-console"]["data"]
    return data


@pytest.mark.parametrize("render", ["default", "full"])
def test_the_console_is_served_by_nginx_behind_its_own_ingress(
    check: subprocess.CompletedProcess[str], render: str
) -> None:
    docs = objects(check, render)
    deployment = of_kind(docs, "Deployment")["propfee-console"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"].endswith("/propfee/propfee-console:" + (
        "1.2.3" if render == "full" else container["image"].rsplit(":", 1)[1]
    ))  # fmt: skip
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/etc/nginx/conf.d", "/tmp"}
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    service = of_kind(docs, "Service")["propfee-console"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    ingress = of_kind(docs, "Ingress")["propfee-console"]
    (path,) = ingress["spec"]["rules"][0]["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    assert path["backend"]["service"] == {"name": "propfee-console", "port": {"name": "http"}}
    assert ingress["spec"]["tls"][0]["secretName"] == "propfee-console-tls"
    assert "propfee-console" in of_kind(docs, "PodDisruptionBudget")

    files = console_files(docs)
    # Each service proxied to its api Service, on its port.
    for name, port in PORTS.items():
        assert f"server {name}.propfee.svc:{port};" in files["default.conf"]
        assert f"location /api/{name}/ {{" in files["default.conf"]
    # The same policy as the development server's, with the IdP's token endpoint reachable.
    config = json.loads(files["config.json"])
    token_origin = "https://id.example-property.cn"
    assert config["dev_sign_in"] is False
    assert config["oidc"]["token_endpoint"].startswith(token_origin + "/")
    assert config["oidc"]["issuer"] == "https://id.example-property.cn/realms/propfee"
    assert config["oidc"]["client_id"] == "propfee-console"
    # Sign-out at the IdP and renewal with the refresh token (no iframe: the same CSP).
    assert config["oidc"]["end_session_endpoint"].startswith(token_origin + "/")
    assert config["oidc"]["renew_before_s"] == 60
    csp = content_security_policy((token_origin,))
    assert f'add_header Content-Security-Policy "{csp}" always;' in files["headers.inc"]

    # The console's pods reach the api pods, and the api pods admit them.
    policies = of_kind(docs, "NetworkPolicy")
    console_labels = deployment["spec"]["selector"]["matchLabels"]
    for name in PORTS:
        peers = policies[f"{name}-api"]["spec"]["ingress"][0]["from"]
        assert {"podSelector": {"matchLabels": console_labels}} in peers
    egress = policies["propfee-console"]["spec"]["egress"]
    assert {p["port"] for p in egress[0]["ports"]} == set(PORTS.values())


def test_the_console_nginx_configuration_passes_nginx_t(
    check: subprocess.CompletedProcess[str],
) -> None:
    assert check.returncode == 0, check.stdout + check.stderr
    if not NGINX.exists():
        pytest.skip("no nginx (check.sh extracts it from Debian's nginx package with apt-get)")
    assert "nginx -t: 3/3 console configurations accepted" in check.stdout


class Upstream(BaseHTTPRequestHandler):
    """A service: answers with the path and query it was asked for, as received."""

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "host": self.headers.get("host")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_nginx_serves_the_console_and_proxies_the_api_as_rendered(
    check: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    """The rendered configuration run by nginx itself: the router's fallback, the headers,
    /console/config, and /api/<service>/ passed to the service with the path as encoded."""
    if not NGINX.exists():
        pytest.skip("no nginx (check.sh extracts it from Debian's nginx package with apt-get)")
    files = console_files(objects(check, "default"))
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    html = tmp_path / "html"
    (html / "assets").mkdir(parents=True)
    (html / "index.html").write_text("<!doctype html><div id=app></div>")
    (html / "assets" / "app-1.js").write_text("console.log(1)")
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    for key, text in files.items():
        text = text.replace("/etc/nginx/conf.d", str(conf_d))
        text = text.replace("root /usr/share/nginx/html;", f"root {html};")
        text = text.replace("listen 8080;", f"listen 127.0.0.1:{port};")
        text = re.sub(
            r"server [a-z]+\.propfee\.svc:\d+;", f"server 127.0.0.1:{upstream.server_port};", text
        )
        (conf_d / key).write_text(text)
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{ worker_connections 64; }}\n"
        f"http {{ types {{ text/html html; application/javascript js; }}\n"
        "  access_log off;\n"
        + "".join(f"  {t}_temp_path {tmp_path}/{t};\n" for t in TEMP_PATHS)
        + f"  include {conf_d}/*.conf; }}\n"
    )
    nginx = subprocess.Popen(
        [str(NGINX), "-p", str(tmp_path), "-e", "stderr", "-c", str(main), "-g",
         "daemon off; master_process off;"],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert nginx.poll() is None, nginx.stderr.read() if nginx.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.05)
        for path in ("/", "/cashier?community=c-1&unit=u-1", "/sign-in/callback?code=x"):
            r = httpx.get(base + path)
            assert r.status_code == 200 and "id=app" in r.text, path
            assert r.headers["cache-control"] == "no-cache"
            assert (
                "connect-src 'self' https://id.example-property.cn;"
                in (r.headers["content-security-policy"])
            )
            assert r.headers["x-content-type-options"] == "nosniff"
        r = httpx.get(f"{base}/assets/app-1.js")
        assert "immutable" in r.headers["cache-control"] and "content-security-policy" in r.headers
        assert httpx.get(f"{base}/assets/missing.js").status_code == 404
        r = httpx.get(f"{base}/console/config")
        assert r.headers["content-type"] == "application/json"
        assert r.json()["oidc"]["client_id"] == "propfee-console"
        r = httpx.get(f"{base}/api/billing/units/u%2F1/statement?x=1&x=2")
        assert r.json()["path"] == "/units/u%2F1/statement?x=1&x=2"
        assert httpx.get(f"{base}/api/payments/payments/p-1").json()["path"] == "/payments/p-1"
        r = httpx.get(f"{base}/api/nothing/x")
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    finally:
        nginx.terminate()
        nginx.wait(10)
        upstream.shutdown()
