"""Gateways (HTTP clients, notification verification) and the cryptography they need."""
