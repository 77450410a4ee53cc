"""Dunning: arrears cases, tiers, escalation, tasks, legal track.

Decides who is chased, how and when."""
