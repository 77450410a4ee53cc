"""The chart's monitoring (deploy/kubernetes: templates/prometheusrule.yaml,
templates/grafana-dashboard.yaml, files/dashboards/propfee.json), checked offline.

deploy/kubernetes/tools/check.sh renders the chart and validate.py checks the PrometheusRule
against schemas/prometheusrule-monitoring.coreos.com-v1.json and the dashboard against
schemas/grafana-dashboard.json, and parses every alert expression and dashboard query with a
PromQL parser (promql-parser), writing the metric names they select to
.local/k8s-render/metric-names.json. Here: the alerts the operators need are there, each with a
severity, a summary, a description and a runbook section that exists; thresholds and windows
come from the values; and every metric name the monitoring selects is one of the contract names
(COMMON.md "Metric names", kept in CONTRACT below) and one the services really export (read from
the prometheus_client registry after importing the services' code).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
CHART = K8S / "propfee"
RENDERED = ROOT / ".local" / "k8s-render"
HELM = ROOT / ".local" / "bin" / "helm"
PROMTOOL = ROOT / ".local" / "bin" / "promtool"  # check.sh extracts it from Debian's package

# The metric names the services promise (COMMON.md "Metric names") with their labels: series
# names as Prometheus stores them (a counter's _total, a histogram's _bucket/_count/_sum).
_HTTP = {"method", "route"}
_HANDLER = {"group", "topic"}
CONTRACT: dict[str, set[str]] = {
    "propfee_outbox_published_total": {"topic"},
    "propfee_outbox_pending": set(),
    "propfee_outbox_relay_errors_total": set(),
    "propfee_events_consumed_total": {"group", "topic", "outcome"},
    "propfee_handler_retries_total": _HANDLER,
    "propfee_handler_seconds_bucket": _HANDLER | {"le"},
    "propfee_handler_seconds_count": _HANDLER,
    "propfee_handler_seconds_sum": _HANDLER,
    "propfee_ready": set(),
    "propfee_http_requests_total": _HTTP | {"status"},
    "propfee_http_request_duration_seconds_bucket": _HTTP | {"le"},
    "propfee_http_request_duration_seconds_count": _HTTP,
    "propfee_http_request_duration_seconds_sum": _HTTP,
    "propfee_consumer_lag": {"group", "topic", "partition"},
    "propfee_dlq_messages": {"topic"},
    "propfee_outbox_oldest_age_seconds": set(),
    "propfee_dispatch_backlog": {"channel"},
    "propfee_billing_runs_missing": set(),
}
# Series Prometheus makes itself for every scrape target, and the labels it adds to every series
# (the ServiceMonitor's target labels).
PROMETHEUS_MADE = {"up": set[str]()}
TARGET_LABELS = {"namespace", "job", "pod", "service", "instance", "container", "endpoint"}

REQUIRED_ALERTS = {
    "PropfeeDLQGrowing": "propfee_dlq_messages",
    "PropfeeOutboxStuck": "propfee_outbox_oldest_age_seconds",
    "PropfeeConsumerLag": "propfee_consumer_lag",
    "PropfeeWebhook5xx": "propfee_http_requests_total",
    "PropfeeBillingRunMissing": "propfee_billing_runs_missing",
    "PropfeeNotReady": "propfee_ready",
    "PropfeeOutboxRelayErrors": "propfee_outbox_relay_errors_total",
}

EXPORTED_SCRIPT = textwrap.dedent(
    """
    import importlib, json, os, pkgutil
    for prefix in ("PROPFEE", "BILLING", "DUNNING", "NOTIFIER", "PAYMENTS"):
        os.environ.setdefault(f"{prefix}_ENVIRONMENT", "development")
    # The apps as the servers build them, then every other module of the shared library and
    # the services (workers, consumers, monitors register their metrics at import).
    for service in ("billing", "payments", "dunning", "notifier"):
        importlib.import_module(f"{service}.app").create_app()
    for package in ("propfee", "billing", "payments", "dunning", "notifier"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            if ".migrations" not in info.name and not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    from prometheus_client import REGISTRY
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"],
                "summary": ["", "_count", "_sum"], "info": ["_info"]}
    names = {}
    for family in REGISTRY.collect():
        for name in [family.name + s for s in suffixes.get(family.type, [""])]:
            names.setdefault(name, [])
        for sample in family.samples:
            names.setdefault(sample.name, sorted(sample.labels))
    # the label names of the metrics the code declares (also those without a series yet)
    for collector in list(REGISTRY._collector_to_names):
        labelnames, kind = getattr(collector, "_labelnames", None), getattr(collector, "_type", "")
        if labelnames is None:
            continue
        name = collector._name
        for suffix in suffixes.get(kind, [""]):
            extra = ["le"] if suffix == "_bucket" else []
            names[name + suffix] = sorted([*labelnames, *extra])
    print(json.dumps(names))
    """
)


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    """Every series name the services' code registers in the default prometheus_client registry
    (what GET /metrics serves), with its label names."""
    result = subprocess.run(
        [sys.executable, "-c", EXPORTED_SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return {name: set(labels) for name, labels in json.loads(result.stdout).items()}


def objects(check: subprocess.CompletedProcess[str], name: str) -> list[dict[str, Any]]:
    assert check.returncode == 0, check.stdout + check.stderr
    return [d for d in yaml.safe_load_all((RENDERED / f"{name}.yaml").read_text()) if d]


def alerts(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def selections(check: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    """What validate.py's PromQL parser found in each rule and dashboard query:
    {where: {"metrics": {name: [matcher labels]}, "labels": [grouped on, shown]}}."""
    assert check.returncode == 0, check.stdout + check.stderr
    used: dict[str, dict[str, Any]] = json.loads((RENDERED / "metric-names.json").read_text())
    return used


def used_names(check: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    return {where: sorted(sel["metrics"]) for where, sel in selections(check).items()}


def render(*sets: str, template: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(HELM), "template", "propfee", str(CHART), "--namespace", "propfee",
         "--kube-version", "1.30.0", "--show-only", f"templates/{template}",
         *(a for s in sets for a in ("--set", s))],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    if result.returncode and "could not find template" in result.stderr:
        return []
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def readme_anchors() -> set[str]:
    """GitHub's anchors of the headings of deploy/kubernetes/README.md."""
    anchors = set()
    for line in (K8S / "README.md").read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("render_name", ["default", "full"])
def test_the_alerts_operators_need_are_rendered_and_valid(
    check: subprocess.CompletedProcess[str], render_name: str
) -> None:
    assert check.returncode == 0, check.stdout + check.stderr  # schema + PromQL parsed
    rules = alerts(objects(check, render_name))
    used = used_names(check)
    for alert, metric in REQUIRED_ALERTS.items():
        assert alert in rules, alert
        assert metric in rules[alert]["expr"], alert
        # what validate.py's parser found in the expression
        assert metric in used[f"{render_name}.yaml: PrometheusRule propfee {alert}"], alert
    for rule in rules.values():
        assert 'namespace="propfee"' in rule["expr"], rule["alert"]  # this release only


def test_every_alert_says_how_bad_what_and_where_the_runbook_is(
    check: subprocess.CompletedProcess[str],
) -> None:
    anchors = readme_anchors()
    assert "alerts-runbook" in anchors
    full = alerts(objects(check, "full"))
    for name, rule in alerts(objects(check, "default")).items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        annotations = rule["annotations"]
        assert annotations["summary"] and len(annotations["description"]) > 40, name
        file, anchor = annotations["runbook"].split("#")
        assert file == "deploy/kubernetes/README.md" and anchor == name.lower(), name
        assert anchor in anchors, f"README has no section {name} (the runbook)"
        assert "runbook_url" not in annotations  # no URL invented when none is configured
        # ci/values-full.yaml sets runbookBaseUrl and an extra label
        assert full[name]["annotations"]["runbook_url"].endswith(f"README.md#{anchor}"), name
        assert full[name]["labels"]["team"] == "propfee-oncall", name


def test_the_validator_refuses_bad_promql_and_undefined_variables(
    check: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    """validate.py (check.sh step 3) parses with a real PromQL parser: a wrong function argument
    type, an unclosed parenthesis and an undefined dashboard variable fail the check."""
    docs = objects(check, "default")
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    rule["spec"]["groups"][0]["rules"][0]["expr"] = "rate(propfee_dlq_messages) > 0"
    rule["spec"]["groups"][0]["rules"][1]["expr"] = "max(propfee_ready"
    (configmap,) = [d for d in docs if d["metadata"]["name"] == "propfee-grafana-dashboard"]
    dashboard = json.loads(configmap["data"]["propfee.json"])
    target = dashboard["panels"][1]["targets"][0]
    target["expr"] = target["expr"].replace("$namespace", "$namespaces")
    configmap["data"]["propfee.json"] = json.dumps(dashboard)
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all([rule, configmap]))
    result = subprocess.run(
        [str(ROOT / ".local" / "k8s-tools" / "bin" / "python"),
         str(K8S / "tools" / "validate.py"), str(broken)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 1
    invalid = [line for line in result.stderr.splitlines() if line.startswith("INVALID")]
    assert len(invalid) == 3, result.stderr
    assert "expected type matrix in call to function 'rate'" in invalid[0]
    assert "unclosed left parenthesis" in invalid[1]
    assert "undefined variable $namespaces" in invalid[2]


def rule_groups(docs: list[dict[str, Any]], *, annotations: bool = True) -> dict[str, Any]:
    """The PrometheusRule's groups as a Prometheus rule file."""
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    groups = rule["spec"]["groups"]
    if not annotations:
        groups = [
            {**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]}
            for g in groups
        ]
    return {"groups": groups}


def promtool() -> Path:
    if not PROMTOOL.exists() and shutil.which("apt-get") is None:
        pytest.skip("promtool comes from Debian's prometheus package: no apt-get here")
    assert PROMTOOL.exists(), "check.sh should have extracted .local/bin/promtool"
    return PROMTOOL


@pytest.mark.parametrize("render_name", ["default", "full"])
def test_prometheus_accepts_the_rules(
    check: subprocess.CompletedProcess[str], render_name: str, tmp_path: Path
) -> None:
    """Prometheus' own checker: expressions, durations and the annotations' templates."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(rule_groups(objects(check, render_name))))
    result = subprocess.run(
        [str(promtool()), "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_fire_when_they_should_and_only_then(
    check: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    """`promtool test rules` on the default rules: tests/deploy/promtool/alerts.test.yaml feeds
    series as the services and Prometheus label them and says which alerts fire when."""
    groups = rule_groups(objects(check, "default"), annotations=False)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(groups))
    test_file = shutil.copy(Path(__file__).parent / "promtool" / "alerts.test.yaml", tmp_path)
    result = subprocess.run(
        [str(promtool()), "test", "rules", str(test_file)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", Path(test_file).read_text()))
    assert tested == {r["alert"] for g in groups["groups"] for r in g["rules"]}


def test_thresholds_and_windows_come_from_the_values() -> None:
    (rule,) = render(
        "prometheusRule.alerts.consumerLag.threshold=1234",
        "prometheusRule.alerts.consumerLag.for=7m",
        "prometheusRule.alerts.outboxAge.thresholdSeconds=99",
        "prometheusRule.alerts.webhook5xx.ratio=0.2",
        "prometheusRule.alerts.webhook5xx.window=3m",
        "prometheusRule.alerts.dlqGrowing.window=2h",
        "prometheusRule.alerts.billingRunMissing.for=26h",
        "prometheusRule.alerts.billingRunMissing.severity=warning",
        "prometheusRule.alerts.dispatchBacklog.enabled=false",
        "prometheusRule.labels.release=kube-prometheus-stack",
        template="prometheusrule.yaml",
    )
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    rules = alerts([rule])
    assert rules["PropfeeConsumerLag"]["expr"].endswith("> 1234")
    assert rules["PropfeeConsumerLag"]["for"] == "7m"
    assert rules["PropfeeOutboxStuck"]["expr"].endswith("> 99")
    webhook = rules["PropfeeWebhook5xx"]["expr"]
    assert webhook.endswith("> 0.2") and webhook.count("[3m]") == 2
    assert 'route=~"/webhooks/.*",status=~"5.."' in webhook
    assert "[2h]" in rules["PropfeeDLQGrowing"]["expr"]
    assert rules["PropfeeBillingRunMissing"]["for"] == "26h"
    assert rules["PropfeeBillingRunMissing"]["labels"]["severity"] == "warning"
    assert "PropfeeDispatchBacklog" not in rules
    assert render("prometheusRule.enabled=false", template="prometheusrule.yaml") == []


def test_the_dashboard_ships_to_the_grafana_sidecar(
    check: subprocess.CompletedProcess[str],
) -> None:
    docs = objects(check, "default")
    (configmap,) = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("dashboard")
    ]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["propfee.json"])
    assert dashboard == json.loads((CHART / "files" / "dashboards" / "propfee.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) == {"datasource", "namespace", "service"}
    assert variables["service"]["multi"] and variables["service"]["includeAll"]
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for expr in exprs:  # every query follows the chosen namespace and services
        assert 'namespace="$namespace",job=~"$service"' in expr, expr
    used = {
        n for where, names in used_names(check).items() if "propfee.json" in where for n in names
    }
    # RED per route (rate, errors, p50/p95/p99 from the histogram), lag, DLQ, outbox, dispatch,
    # billing runs, readiness
    assert used >= {
        "propfee_http_requests_total", "propfee_http_request_duration_seconds_bucket",
        "propfee_consumer_lag", "propfee_dlq_messages", "propfee_outbox_pending",
        "propfee_outbox_oldest_age_seconds", "propfee_dispatch_backlog",
        "propfee_billing_runs_missing", "propfee_ready",
    }  # fmt: skip
    quantiles = {
        m.group(1)
        for e in exprs
        if "propfee_http_request_duration_seconds_bucket" in e
        for m in [re.match(r"histogram_quantile\((0\.\d+),", e)]
        if m
    }
    assert quantiles == {"0.5", "0.95", "0.99"}
    assert any('status=~"5.."' in e and "propfee_http_requests_total" in e for e in exprs)
    off = render("grafanaDashboard.enabled=false", template="grafana-dashboard.yaml")
    assert off == []


def test_the_monitoring_selects_contract_names_only(
    check: subprocess.CompletedProcess[str],
) -> None:
    used = {n for names in used_names(check).values() for n in names}
    assert used - set(CONTRACT) - set(PROMETHEUS_MADE) == set()


def test_the_monitoring_uses_the_contract_labels_only(
    check: subprocess.CompletedProcess[str],
) -> None:
    """A matcher, a `by`/`on` label, a legend's or an annotation's label is one the selected
    metrics carry (a typo such as `by (grup)` would give an empty or one-series answer)."""
    known = CONTRACT | PROMETHEUS_MADE
    wrong = []
    for where, sel in selections(check).items():
        carried = set(TARGET_LABELS)
        for metric, matchers in sel["metrics"].items():
            labels = known.get(metric, set()) | TARGET_LABELS
            carried |= labels
            wrong += [f"{where}: {metric}{{{m}}}" for m in matchers if m not in labels]
        wrong += [f"{where}: label {label}" for label in sel["labels"] if label not in carried]
    assert wrong == []


def test_the_services_export_every_contract_name(exported: dict[str, set[str]]) -> None:
    """Fails until the branches adding the "New" names of COMMON.md are merged."""
    missing = sorted(set(CONTRACT) - set(exported))
    assert not missing, f"contract names the services do not export: {missing}"


def test_the_exported_metrics_carry_the_contract_labels(exported: dict[str, set[str]]) -> None:
    different = {
        name: (sorted(exported[name]), sorted(labels))
        for name, labels in CONTRACT.items()
        if name in exported and exported[name] != labels
    }
    assert different == {}, "(exported, contract)"


def test_every_name_the_monitoring_selects_is_exported(
    check: subprocess.CompletedProcess[str], exported: dict[str, set[str]]
) -> None:
    missing = {
        name: sorted(where for where, names in used_names(check).items() if name in names)[:3]
        for names in used_names(check).values()
        for name in names
        if name not in set(exported) | set(PROMETHEUS_MADE)
    }
    assert not missing, f"selected by the monitoring, not exported: {sorted(missing)} ({missing})"
