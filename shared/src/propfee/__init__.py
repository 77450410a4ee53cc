"""Propfee shared kernel: events, money, messaging (outbox/inbox), db, logging, settings.

One obvious way per concern: services import these and grow no private copies.
"""

__version__ = "0.1.0"
