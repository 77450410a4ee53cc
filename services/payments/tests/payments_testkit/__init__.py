"""The gateway side of payments' tests, written from the gateways' documentation with
``cryptography`` directly, independently of the verification code under test."""
