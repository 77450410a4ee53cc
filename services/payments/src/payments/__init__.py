"""Payments: payment orders, webhooks, counter payments, refunds.

The source of truth for what was paid."""
