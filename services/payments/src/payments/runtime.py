"""The payments process's runtime: ``propfee.runtime.ServiceRuntime`` with the events payments
consumes (``entrypoints.events``) and, once connected, the configured merchant accounts
written (their records follow the account's company)."""

from __future__ import annotations

from payments.entrypoints.events import HANDLERS
from payments.service_layer.accounts import MerchantAccount, sync_accounts
from payments.settings import PaymentsSettings
from propfee.runtime import ServiceRuntime


class PaymentsRuntime(ServiceRuntime):
    def __init__(self, settings: PaymentsSettings, accounts: list[MerchantAccount]) -> None:
        super().__init__(settings, package="payments", handlers=HANDLERS)
        self.accounts = accounts

    async def on_started(self) -> None:
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            await sync_accounts(conn, self.accounts)
