"""Payments: payment orders, webhooks, counter payments, refunds. Source of truth for what was paid."""
