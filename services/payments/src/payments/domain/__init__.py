"""The pure rules of payments: no I/O, time comes in as an argument."""
