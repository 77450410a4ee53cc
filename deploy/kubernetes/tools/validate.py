"""Validate rendered manifests offline: Kubernetes objects against the schemas shipped in the
PyPI package ``kubernetes-validate`` (strict: unknown fields fail), custom resources against the
JSON schemas vendored in ``deploy/kubernetes/schemas/`` (sources noted in each file).

Monitoring objects get more: every PrometheusRule expression and every query of a Grafana
dashboard (a ``*.json`` ConfigMap entry with ``panels``, checked against
``schemas/grafana-dashboard.json``) is parsed by a PromQL parser (the PyPI package
``promql-parser``, bindings of the Rust crate of the same name: syntax, function names, argument
types). ``--metrics-out`` writes the metric and label names they use, which
``tests/deploy/test_observability.py`` compares with the names the services export.

    python validate.py [--kubernetes-version 1.30.0 ...] [--metrics-out names.json] rendered.yaml

Runs in the tools environment that ``check.sh`` creates (kubernetes-validate, jsonschema,
promql-parser). Exit status 1 when any object fails; every failure is printed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import promql_parser
import yaml

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
CUSTOM = {
    ("kafka.strimzi.io/v1", "KafkaTopic"): "kafkatopic-kafka.strimzi.io-v1.json",
    ("kafka.strimzi.io/v1", "KafkaUser"): "kafkauser-kafka.strimzi.io-v1.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentication-keda.sh-v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring.coreos.com-v1.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject-keda.sh-v1alpha1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring.coreos.com-v1.json",
}
DASHBOARD_SCHEMA = "grafana-dashboard.json"
# Grafana's interval macros, replaced by a duration before parsing.
GRAFANA_DURATIONS = re.compile(r"\$\{?(__rate_interval|__interval|__range)\b\}?")
GRAFANA_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?(\w+)\)$", re.DOTALL)


LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
ANNOTATION_LABEL = re.compile(r"\$labels\.(\w+)")
# What one query selects: {"metrics": {name: label names of its matchers}, "labels": the label
# names it groups or matches on, or shows (legends, annotations)}.
Selection = dict[str, Any]


def selection(expr: str) -> Selection:
    """Parse ``expr`` as PromQL (ValueError when invalid): the metrics and labels it uses."""
    metrics: dict[str, set[str]] = {}
    labels: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = node.matchers.matchers
            names = [m.value for m in matchers if m.name == "__name__"]
            for name in [node.name] if node.name else names:
                metrics.setdefault(name, set()).update(
                    m.name for m in matchers if m.name != "__name__"
                )
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            labels.update(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            if node.modifier.matching is not None:
                labels.update(node.modifier.matching.labels)
            labels.update(node.modifier.group_labels or ())

    promql_parser.walk(promql_parser.parse(expr), visit)
    return {"metrics": metrics, "labels": labels}


def check_rules(doc: dict, where: str, failures: list[str], used: dict[str, Selection]) -> None:
    for group in doc.get("spec", {}).get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            try:
                selected = selection(str(rule["expr"]))
            except ValueError as exc:
                failures.append(f"{where}: rule {name}: PromQL: {exc}")
                continue
            for text in (rule.get("annotations") or {}).values():
                selected["labels"].update(ANNOTATION_LABEL.findall(text))
            used[f"{where} {name}"] = selected


def check_dashboard(
    dashboard: dict, schema: dict, where: str, failures: list[str], used: dict[str, Selection]
) -> None:
    for error in jsonschema.Draft7Validator(schema).iter_errors(dashboard):
        path_ = "/".join(str(p) for p in error.absolute_path)
        failures.append(f"{where}: {path_}: {error.message}")
    variables = {v.get("name") for v in dashboard.get("templating", {}).get("list", [])}
    # (what, query, label names shown or asked for besides the query's own)
    queries: list[tuple[str, str, set[str]]] = []
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            match = LABEL_VALUES.match(query.get("query", "").strip())
            if not match or not match.group(1):
                failures.append(f"{where}: variable {variable.get('name')}: not label_values(m, l)")
            else:
                queries.append((f"variable {variable['name']}", match.group(1), {match.group(2)}))
    ids = [panel.get("id") for panel in dashboard.get("panels", [])]
    if len(ids) != len(set(ids)):
        failures.append(f"{where}: panel ids are not unique")
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            what = f"panel {panel.get('title')!r} {target.get('refId')}"
            legend = set(LEGEND_LABEL.findall(target.get("legendFormat", "")))
            queries.append((what, target["expr"], legend))
    for what, query, shown in queries:
        for match in GRAFANA_VARIABLE.finditer(GRAFANA_DURATIONS.sub("", query)):
            name = match.group(1) or match.group(2)
            if name not in variables:
                failures.append(f"{where}: {what}: undefined variable ${name}")
        expr = GRAFANA_VARIABLE.sub("x", GRAFANA_DURATIONS.sub("5m", query))
        try:
            selected = selection(expr)
        except ValueError as exc:
            failures.append(f"{where}: {what}: PromQL: {exc}")
            continue
        selected["labels"].update(shown)
        used[f"{where} {what}"] = selected


def check_configmap(
    doc: dict, schema: dict, where: str, failures: list[str], used: dict[str, Selection]
) -> None:
    for key, value in (doc.get("data") or {}).items():
        if not key.endswith(".json"):
            continue
        try:
            content = json.loads(value)
        except ValueError as exc:
            failures.append(f"{where}: {key}: not JSON: {exc}")
            continue
        if isinstance(content, dict) and "panels" in content:
            check_dashboard(content, schema, f"{where} {key}", failures, used)


def load(paths: list[str]) -> list[tuple[str, dict]]:
    docs = []
    for path in paths:
        for doc in yaml.safe_load_all(Path(path).read_text()):
            if doc:
                docs.append((path, doc))
    return docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", action="append", default=[])
    parser.add_argument("--metrics-out", help="write the metric names the monitoring selects")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    versions = args.kubernetes_version or ["1.30.0"]
    custom = {key: json.loads((SCHEMAS / name).read_text()) for key, name in CUSTOM.items()}
    dashboard_schema = json.loads((SCHEMAS / DASHBOARD_SCHEMA).read_text())
    failures: list[str] = []
    used: dict[str, Selection] = {}
    counts: dict[str, int] = {}
    docs = load(args.files)
    for path, doc in docs:
        key = (doc.get("apiVersion", ""), doc.get("kind", ""))
        where = f"{Path(path).name}: {key[1]} {doc.get('metadata', {}).get('name')}"
        counts[key[1]] = counts.get(key[1], 0) + 1
        if key in custom:
            validator = jsonschema.Draft7Validator(custom[key])
            for error in validator.iter_errors(doc):
                path_ = "/".join(str(p) for p in error.absolute_path)
                failures.append(f"{where}: {path_}: {error.message}")
            if key[1] == "PrometheusRule":
                check_rules(doc, where, failures, used)
            continue
        if key == ("v1", "ConfigMap"):
            check_configmap(doc, dashboard_schema, where, failures, used)
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                failures.append(f"{where}: no schema for {key[0]} {key[1]} in Kubernetes {version}")
            except kubernetes_validate.ValidationError as exc:
                path_ = "/".join(str(p) for p in exc.path)
                failures.append(f"{where} (Kubernetes {version}): {path_}: {exc.message}")
    for failure in failures:
        print(f"INVALID {failure}", file=sys.stderr)
    if args.metrics_out:
        out = {
            where: {
                "metrics": {m: sorted(ls) for m, ls in sorted(sel["metrics"].items())},
                "labels": sorted(sel["labels"]),
            }
            for where, sel in sorted(used.items())
        }
        Path(args.metrics_out).write_text(json.dumps(out, indent=1) + "\n")
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    print(f"validated {len(docs)} objects against Kubernetes {', '.join(versions)}: {summary}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
