"""The fault suite, reduced: one fault of each kind (a service killed mid-webhook, the
controller killed, PostgreSQL restarted, a link cut, a service and a broker at once) on the
suite's own PostgreSQL and 3-broker Kafka cluster, under the demo's load; nothing lost,
nothing duplicated, everything consumed. The same code as ``make chaos`` (chaos/), a smaller
plan.

Its own home (.local/chaos-test) and ports, so that it never touches the shared
infrastructure nor a ``make chaos`` running beside it. The link cut needs root (network
namespaces); without it the plan leaves the cut out and says so.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from chaos import report as reporting
from chaos.infra import INFRA, ROOT
from chaos.netns import available as netns_available
from chaos.run import Site, reduced_plan, run_plan

pytestmark = [pytest.mark.integration, pytest.mark.long]

SITE = Site(
    home=ROOT / ".local" / "chaos-test",
    pg_port=int(os.environ.get("PROPFEE_CHAOS_TEST_PG_PORT", "55632")),
    kafka_port=int(os.environ.get("PROPFEE_CHAOS_TEST_KAFKA_PORT", "9792")),
    cluster_port_base=int(os.environ.get("PROPFEE_CHAOS_TEST_CLUSTER_PORT_BASE", "9892")),
    netns_tag="t",
    netns_base=10,
)


def _can_run() -> bool:
    return shutil.which("java") is not None and bool(
        list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    )


def _has_cluster() -> bool:
    return "start-kafka-cluster" in INFRA.read_text()


@pytest.mark.timeout(900)
async def test_one_fault_of_each_kind_loses_nothing_and_doubles_nothing() -> None:
    if not _can_run():
        pytest.skip("the fault suite starts its own Kafka and PostgreSQL (java, pg_ctl)")
    plan = reduced_plan(cluster=_has_cluster(), netns=netns_available())
    report = await run_plan(plan, SITE)
    path = reporting.write(report, SITE.home / "report")
    summary = [(f["fault"], f["lost"], f["duplicated"], f.get("error")) for f in report["faults"]]
    assert report["errors"] == 0, f"{path}: {json.dumps(summary, ensure_ascii=False)}"
    assert report["lost"] == 0 and report["duplicated"] == 0, f"{path}: {summary}"
    kinds = {f["kind"] for f in report["faults"]}
    assert {"service kill", "controller kill", "database restart", "combined"} <= kinds
    if plan.netns:
        assert "link cut" in kinds
    for fault in report["faults"][1:]:
        assert fault["recovered_s"] is not None, fault
        assert fault["payments"] > 0 or fault["days"] > 0, fault
