"""Webhooks: lifecycle events pushed to other systems as signed CloudEvents (see events.py,
outbox.py, delivery.py)."""
