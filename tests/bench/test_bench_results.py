"""``make bench``'s judging and writing (bench.results, bench.suite): no Kafka, no PostgreSQL."""

from __future__ import annotations

import json
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from bench import results
from bench.results import Compare, Goal
from bench.suite import REGISTRY, Bench, Outcome, _billing_ceiling, by_name, judged, run_bench

CEILINGS = {
    "copy_invoices_per_s": 93_000.0,
    "produce_events_per_s": 56_000.0,
    "consume_events_per_s": 40_000.0,
    "update_rows_per_s": 100_000.0,
    "bare_per_s": 5_000.0,
    "bare_p99_ms": 20.0,
}


def test_the_billing_ceiling_is_the_issues() -> None:
    # ~2.9 s per 100,000 units at 93,000 invoices/s COPY and 56,000 events/s produce.
    ceiling = _billing_ceiling(CEILINGS, {"units": 100_000})
    assert ceiling == pytest.approx(100_000 / 93_000 + 100_000 / 56_000)
    assert 2.8 < ceiling < 2.9
    assert _billing_ceiling({}, {"units": 100_000}) is None  # no ceiling measured


def test_pick_takes_the_first_alias_present_and_numbers_only() -> None:
    assert results.pick({"seconds_on_kafka": 3, "seconds": 2}, ("seconds", "x")) == 2.0
    assert results.pick({"seconds_on_kafka": 3}, ("seconds", "seconds_on_kafka")) == 3.0
    assert results.pick({"seconds": True}, ("seconds",)) is None
    assert results.pick({}, ("seconds",)) is None


def test_ratio_is_figure_over_ceiling_and_goals_can_judge_it() -> None:
    bench = by_name("billing_run")
    figures = {"units": 1_000_000, "seconds": 59.0, "peak_rss_mb": 140}
    compared = results.compare(bench.compare, figures, CEILINGS)
    [c] = compared
    assert c.key == "seconds" and c.value == 59.0
    assert c.ratio == pytest.approx(59.0 / (1_000_000 / 93_000 + 1_000_000 / 56_000))
    judged_ = results.judge(bench.goals, figures, compared)
    assert [j.met for j in judged_] == [True, False, True]  # 59 s: 2.06× the ceiling
    assert results.verdict(judged_) == "not met"
    assert [j.goal for j in judged_] == [
        "seconds ≤ 60 s",
        "seconds/ceiling ≤ 2",
        "peak_rss_mb < 500 MB",
    ]


def test_a_rate_beside_its_ceiling_and_a_met_goal() -> None:
    bench = by_name("wechatpay_webhooks")
    figures = {"per_s": 2500, "p99_ms": 31.5}
    compared = results.compare(bench.compare, figures, CEILINGS)
    assert [c.ratio for c in compared] == [pytest.approx(0.5), pytest.approx(31.5 / 20)]
    judged_ = results.judge(bench.goals, figures, compared)
    assert results.verdict(judged_) == "met"


def test_a_missing_figure_or_ceiling_is_unknown_and_not_met() -> None:
    spec = Compare(("seconds",), lambda c, f: c["nope"], "missing")
    [c] = results.compare([spec], {"seconds": 1.0}, {})
    assert c.ceiling is None and c.ratio is None
    judged_ = results.judge([Goal(("seconds",), "<=", 2), Goal(("other",), ">", 0)], {"seconds": 1}, [c])  # fmt: skip
    assert [j.met for j in judged_] == [True, None]
    assert results.verdict(judged_) == "not met"
    assert results.verdict([]) == "no goal"
    # A zero ceiling gives no ratio rather than a crash.
    zero = Compare(("x",), lambda c, f: 0.0, "zero")
    assert results.compare([zero], {"x": 1.0}, {})[0].ratio is None
    with pytest.raises(ValueError):
        Goal(("x",), "~", 1)


def test_the_sms_ceiling_is_the_count_over_the_cap() -> None:
    bench = by_name("sms_dispatch")
    [c] = results.compare(bench.compare, {"seconds": 21.0, "count": 10_000}, {})
    assert c.ceiling == 20.0 and c.ratio == pytest.approx(1.05)


def test_parse_bench_line() -> None:
    line = 'BENCH {"name": "x", "figures": {"a": 1, "b": 2.5}}'
    assert results.parse_bench_line(f"hello\n{line}\n\n") == {
        "name": "x",
        "figures": {"a": 1, "b": 2.5},
    }
    assert results.parse_bench_line(f"{line}\nOK\n") is None  # not the last line
    assert results.parse_bench_line("BENCH {nope") is None
    assert results.parse_bench_line('BENCH {"name": "x", "figures": {"a": "1"}}') is None
    assert results.parse_bench_line('BENCH {"name": "x", "figures": {"a": true}}') is None
    assert results.parse_bench_line('BENCH {"figures": {}}') is None
    assert results.parse_bench_line("") is None


def test_every_registry_entry_is_well_formed() -> None:
    names = [b.name for b in REGISTRY]
    assert len(names) == len(set(names))
    for b in REGISTRY:
        assert b.script.startswith("bench/") and b.script.endswith(".py")
        assert b.command(True)[:2] == ["python", b.script]
        assert b.smoke_timeout_s <= 300
    # The issue's table: every row is in the registry with its goal.
    goals = {b.name: [g.label() for g in b.goals] for b in REGISTRY}
    assert goals["billing_run"] == ["seconds ≤ 60 s", "seconds/ceiling ≤ 2", "peak_rss_mb < 500 MB"]  # fmt: skip
    assert goals["allocation"] == ["payments_per_s ≥ 5,000 /s"]
    assert goals["wechatpay_webhooks"] == ["per_s ≥ 2,000 /s", "p99_ms < 50 ms"]
    assert goals["dunning_sweep"] == ["seconds ≤ 20 s"]
    assert goals["sms_dispatch"] == ["seconds ≤ 21 s", "duplicates = 0"]
    assert goals["demo"] == ["seconds ≤ 180 s"]


# -- running scripts --------------------------------------------------------------------------


def script(tmp_path: Path, body: str) -> Bench:
    path = tmp_path / "fake_bench.py"
    path.write_text(textwrap.dedent(body))
    return Bench(name="fake", title="a fake", script=str(path), full=(), smoke=("--n", "1"))


def test_run_bench_reads_the_bench_line(tmp_path: Path) -> None:
    bench = script(
        tmp_path,
        """
        import json, sys
        assert sys.argv[1:] == ["--n", "1"]
        print("human line")
        print("BENCH " + json.dumps({"name": "fake", "figures": {"n": 1, "seconds": 0.5}}))
        """,
    )
    outcome = run_bench(bench, smoke=True, log_dir=tmp_path / "logs")
    assert outcome.status == "ok" and outcome.returncode == 0
    assert outcome.figures == {"n": 1, "seconds": 0.5}
    assert "human line" in (tmp_path / "logs" / "fake.log").read_text()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("print('no bench line')", "no BENCH line"),
        ("import sys; print('x'); sys.exit(3)", "failed"),
        (
            "import json; print('BENCH ' + json.dumps({'name': 'other', 'figures': {}}))",
            "wrong BENCH name",
        ),
    ],
)
def test_a_script_that_breaks_the_contract_fails(tmp_path: Path, body: str, status: str) -> None:
    outcome = run_bench(script(tmp_path, body), smoke=True)
    assert outcome.status == status and not outcome.ok


def test_a_missing_script_is_reported_not_run(tmp_path: Path) -> None:
    bench = Bench(name="gone", title="t", script="bench/nowhere/bench_gone.py", full=(), smoke=())
    outcome = run_bench(bench, smoke=True)
    assert outcome.status == "missing" and "does not exist" in outcome.reason


def test_a_script_past_its_timeout_gets_sigint_first(tmp_path: Path) -> None:
    marker = tmp_path / "cleaned"
    bench = script(
        tmp_path,
        f"""
        import time
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            open({str(marker)!r}, "w").write("dropped my database")
            raise
        """,
    )
    outcome = run_bench(bench, smoke=True, timeout=1.5)
    assert outcome.status == "timeout"
    assert marker.read_text() == "dropped my database"


# -- writing ----------------------------------------------------------------------------------


def a_run() -> dict:  # type: ignore[type-arg]
    bench = by_name("billing_run")
    ok = Outcome("billing_run", bench.title, "uv run python bench/billing/bench_run.py", "ok")
    ok.returncode, ok.wall_s = 0, 80.0
    ok.figures = {"units": 1_000_000, "seconds": 57.0, "peak_rss_mb": 140}
    missing = Outcome("demo", "the demo", "uv run python bench/demo/bench_demo.py", "missing")
    missing.reason = "bench/demo/bench_demo.py does not exist"
    return {
        "command": "uv run python -m bench",
        "mode": "full",
        "started": "2026-12-03 12:00 UTC",
        "wall_s": 300.0,
        "status": "failed: demo",
        "failures": ["demo"],
        "machine": {
            "cpu": "AMD EPYC",
            "cores": 2,
            "load_before": "0.10 / 0.20 / 0.30",
            "load_after": "1.50 / 0.90 / 0.40",
            "postgresql": "15.18",
        },
        "ceilings": {
            "command": "uv run python -m bench.ceilings",
            "status": "ok",
            "figures": CEILINGS,
        },
        "benchmarks": [
            judged(bench, ok, CEILINGS, smoke=False),
            judged(by_name("demo"), missing, CEILINGS, smoke=False),
        ],
        "note": "Measured on a busy machine.",
    }


def test_results_md_holds_machine_command_figures_ratios_and_goals(tmp_path: Path) -> None:
    run = a_run()
    md, js = results.write(run, tmp_path)
    text = md.read_text()
    for expected in (
        "| CPU | AMD EPYC |",
        "| cores | 2 |",
        "| PostgreSQL | 15.18 |",
        "| load average before (1/5/15 min) | 0.10 / 0.20 / 0.30 |",
        "| load average after (1/5/15 min) | 1.50 / 0.90 / 0.40 |",
        "Written by `uv run python -m bench`",
        "Status: **failed: demo**",
        "Measured on a busy machine.",
        "Command: `uv run python bench/billing/bench_run.py`",
        "| copy_invoices_per_s | 93,000 |",
        "| seconds | 57 s | 28.6 s | 1.99× | units / COPY rate + units / produce rate |",
        "| seconds ≤ 60 s | 57 | met |",
        "| seconds/ceiling ≤ 2 | 1.99 | met |",
        "| peak_rss_mb < 500 MB | 140 | met |",
        "| billing_run (billing run, every InvoiceIssued on Kafka) | ok |",
        "Status: **missing**; bench/demo/bench_demo.py does not exist.",
    ):
        assert expected in text, f"{expected!r} not in\n{text}"
    assert json.loads(js.read_text()) == json.loads(json.dumps(run))


def test_smoke_runs_are_not_judged() -> None:
    bench = by_name("billing_run")
    ok = Outcome("billing_run", bench.title, "cmd", "ok", figures={"units": 200, "seconds": 9.0})
    entry = judged(bench, ok, CEILINGS, smoke=True)
    assert entry["goals"] == [] and entry["verdict"] == "smoke size: not judged"
    assert entry["compared"][0]["ratio"] is not None


def test_python_is_this_interpreter() -> None:
    assert by_name("billing_run").command(False)[0] == "python"
    assert sys.executable  # run_script swaps "python" for it
    assert signal.SIGINT  # the timeout's first signal


def test_the_suite_fails_on_a_broken_or_missing_script_and_writes_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import suite

    good = tmp_path / "good.py"
    good.write_text(
        "import json\nprint('BENCH ' + json.dumps({'name': 'good', 'figures': {'seconds': 3}}))\n"
    )
    bad = tmp_path / "bad.py"
    bad.write_text("print('forgot the BENCH line')\n")
    goal = (Goal(("seconds",), "<=", 5, "s"),)
    compare = (Compare(("seconds",), lambda c, f: c["copy_s"], "COPY time", "s"),)
    registry = (
        Bench("good", "works", str(good), (), (), goal, compare),
        Bench("bad", "no line", str(bad), (), ()),
        Bench("gone", "not merged", "bench/nowhere/bench_gone.py", (), ()),
        Bench("demo_only", "needs the demo", str(good), (), (), needs_demo=True),
        Bench("other", "left out", str(good), (), ()),
    )
    monkeypatch.setattr(suite, "REGISTRY", registry)
    monkeypatch.setattr(suite, "machine", lambda: {"cpu": "test CPU", "cores": 2})
    real = suite.run_script

    def fake_ceilings(command, **kwargs):  # type: ignore[no-untyped-def]
        if command[:3] == ["python", "-m", "bench.ceilings"]:
            line = {"name": "ceilings", "figures": {"copy_s": 1.5}}
            return 0, "COPY ...\nBENCH " + json.dumps(line) + "\n", "", 0.1
        return real(command, **kwargs)

    monkeypatch.setattr(suite, "run_script", fake_ceilings)
    out = str(tmp_path / "out")
    status = suite.main(["--out", out, "--only", "good,bad,gone,demo_only", "--note", "Busy."])
    assert status == 1
    run = json.loads((tmp_path / "out" / "results.json").read_text())
    assert run["command"] == f"uv run python -m bench --out {out} --only good,bad,gone,demo_only"
    assert run["note"] == "Busy."
    assert run["failures"] == ["bad", "gone"]
    statuses = {b["name"]: b["status"] for b in run["benchmarks"]}
    assert statuses == {
        "good": "ok",
        "bad": "no BENCH line",
        "gone": "missing",
        "demo_only": "skipped",
        "other": "not run",
    }
    [good_entry] = [b for b in run["benchmarks"] if b["name"] == "good"]
    assert good_entry["compared"][0]["ratio"] == 2.0 and good_entry["verdict"] == "met"
    text = (tmp_path / "out" / "results.md").read_text()
    assert "Status: **failed: bad, gone**" in text and "| CPU | test CPU |" in text
    assert "| seconds | 3 s | 1.5 s | 2.00× | COPY time |" in text


def test_the_produce_ceiling_sends_real_invoice_issued_events() -> None:
    from bench.ceilings import invoice_event, record_bytes
    from propfee.events import InvoiceIssued

    key, value, headers = invoice_event(7)
    event = InvoiceIssued.model_validate_json(value)  # the contract's model accepts it
    assert key == event.unit_id.encode() and len(event.lines) == 2
    assert dict(headers)["ce_type"] == InvoiceIssued.ce_type().encode()
    assert 600 < record_bytes(key, value, headers) < 3000
