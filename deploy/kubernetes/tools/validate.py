"""Validate rendered manifests offline: Kubernetes objects against the schemas shipped in the
PyPI package ``kubernetes-validate`` (strict: unknown fields fail), custom resources against the
JSON schemas vendored in ``deploy/kubernetes/schemas/`` (sources noted in each file).

    python validate.py [--kubernetes-version 1.30.0 ...] rendered.yaml ...

Runs in the tools environment that ``check.sh`` creates (kubernetes-validate, jsonschema).
Exit status 1 when any object fails; every failure is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
CUSTOM = {
    ("kafka.strimzi.io/v1", "KafkaTopic"): "kafkatopic-kafka.strimzi.io-v1.json",
    ("kafka.strimzi.io/v1", "KafkaUser"): "kafkauser-kafka.strimzi.io-v1.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentication-keda.sh-v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring.coreos.com-v1.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject-keda.sh-v1alpha1.json",
}


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
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    versions = args.kubernetes_version or ["1.30.0"]
    custom = {key: json.loads((SCHEMAS / name).read_text()) for key, name in CUSTOM.items()}
    failures: list[str] = []
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
            continue
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
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    print(f"validated {len(docs)} objects against Kubernetes {', '.join(versions)}: {summary}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
