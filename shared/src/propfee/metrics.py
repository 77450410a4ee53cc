"""Prometheus metrics shared by every service (served at GET /metrics).

Several uvicorn workers (``<SVC>_HTTP_WORKERS`` > 1) share one ``/metrics`` through
prometheus_client's multiprocess mode: with ``PROMETHEUS_MULTIPROC_DIR`` set, every process
writes its values to files there and a scrape, whichever worker answers it, adds them up
(:func:`exposition`). Counters and histograms are summed; each gauge says how its values
combine (``multiprocess_mode``): a gauge measured at scrape time takes the most recent
measurement, one kept by the process that runs the consumers takes the live processes' max.
The directory is emptied when the first process of a run imports this module (below), before
any value is written: files left by an earlier run (a restarted container keeps its emptyDir)
would otherwise be counted again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.exposition import generate_latest

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
#: Set in the environment by the process that emptied the directory; the uvicorn workers it
#: spawns (and their restarts) inherit it and keep the files.
_WIPED_VARIABLE = "PROPFEE_METRICS_DIR_READY"


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_DIR_VARIABLE)
    return Path(value) if value else None


def prepare_multiprocess_dir(path: Path) -> None:
    """Create ``path`` empty (files of an earlier run removed) and mark it prepared, so that
    the processes started from this one keep what they write there."""
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
    os.environ[MULTIPROC_DIR_VARIABLE] = str(path)
    os.environ[_WIPED_VARIABLE] = str(path)


_dir = multiprocess_dir()
if _dir is not None and os.environ.get(_WIPED_VARIABLE) != str(_dir):
    prepare_multiprocess_dir(_dir)


def forget_dead_processes() -> None:
    """Drop the live gauges of workers that are gone (killed, restarted by uvicorn): a live
    gauge's mode counts live processes only, and nothing else tells prometheus_client."""
    path = multiprocess_dir()
    if path is None:
        return
    for file in path.glob("gauge_live*_*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            _multiprocess.mark_process_dead(int(pid), str(path))  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, another user's


def exposition(names: list[str] | None = None) -> bytes:
    """The text exposition of every propfee metric: this process's, or, in multiprocess
    mode, all workers' added up. ``names`` restricts it to those series."""
    registry: CollectorRegistry = REGISTRY
    if multiprocess_dir() is not None:
        forget_dead_processes()
        # auto_describe: a restricted registry finds collectors by the names they describe.
        registry = CollectorRegistry(auto_describe=bool(names))
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    if names:
        return generate_latest(registry.restricted_registry(names))
    return generate_latest(registry)


def mark_this_process_dead() -> None:
    """On a worker's graceful exit: its live gauges stop counting."""
    path = multiprocess_dir()
    if path is not None:
        _multiprocess.mark_process_dead(os.getpid(), str(path))  # type: ignore[no-untyped-call]


EVENTS_PUBLISHED = Counter(
    "propfee_outbox_published_total", "Events published by the outbox relay", ["topic"]
)
OUTBOX_PENDING = Gauge(
    "propfee_outbox_pending",
    "Outbox rows not yet published (counted at each scrape)",
    multiprocess_mode="mostrecent",
)
OUTBOX_OLDEST_AGE = Gauge(
    "propfee_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox row, 0 when none (measured at each scrape)",
    multiprocess_mode="mostrecent",
)
RELAY_ERRORS = Counter("propfee_outbox_relay_errors_total", "Relay batches that failed")
EVENTS_CONSUMED = Counter(
    "propfee_events_consumed_total",
    "Events handled by consumers, by outcome (processed, duplicate, dead_lettered)",
    ["group", "topic", "outcome"],
)
HANDLER_RETRIES = Counter(
    "propfee_handler_retries_total",
    "Handler attempts that failed and were retried",
    ["group", "topic"],
)
HANDLER_SECONDS = Histogram(
    "propfee_handler_seconds",
    "Time to handle one event, database commit included",
    ["group", "topic"],
)
READY = Gauge(
    "propfee_ready",
    "1 when the service's database and Kafka are reachable (every live worker)",
    multiprocess_mode="livemin",
)
CONSUMER_LAG = Gauge(
    "propfee_consumer_lag",
    "Records behind the partition's end offset, for the partitions this process consumes",
    ["group", "topic", "partition"],
    multiprocess_mode="livemax",
)
DLQ_MESSAGES = Gauge(
    "propfee_dlq_messages",
    "Records in a dead-letter topic of this service's consumer group (end - start offsets)",
    ["topic"],
    multiprocess_mode="livemax",
)
DISPATCH_BACKLOG = Gauge(
    "propfee_dispatch_backlog",
    "Messages due to be sent and not yet sent, by channel (notifier; measured at each scrape)",
    ["channel"],
    multiprocess_mode="mostrecent",
)
HTTP_REQUESTS = Counter(
    "propfee_http_requests_total",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "propfee_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template",
    ["method", "route"],
)
