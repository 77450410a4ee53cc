"""Billing: the registry, invoices and allocation of payments. Source of truth for what is owed."""
