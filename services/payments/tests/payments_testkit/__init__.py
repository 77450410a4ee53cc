"""Payments' own test helpers: the service's settings for a gateway's keys, orders and the
communities it knows. The gateways themselves are the ``sandbox`` package's."""
