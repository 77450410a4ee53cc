import gc

from billing.app import create_app
from billing.settings import BillingSettings
from propfee.cli import run_service


def main() -> None:
    # Allocation makes and drops many small objects per payment (facts, balances, events):
    # with the default gen-0 threshold (700) the collector ran every few payments and walked
    # the whole long-lived heap (the app, pydantic's schemas) at each full collection. The
    # modules' objects are frozen out of collection; gen 0 is collected every 20,000
    # allocations (bench/billing/bench_allocate.py: -8% CPU per payment).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    run_service(package="billing", settings_factory=BillingSettings, app_factory=create_app)


if __name__ == "__main__":
    main()
