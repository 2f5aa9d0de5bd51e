"""Governance metrics: the figures privacy officers read (request turnaround, overdue tasks,
expiring agreements, unreviewed grants, output checks) and the operators' Prometheus endpoint."""
