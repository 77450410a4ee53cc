"""Notifier: channels, templates, preferences, quiet hours. How a message reaches a person."""
