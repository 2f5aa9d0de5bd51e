"""The tamper-evident audit trail: writing, format, verification, search, exports,
reports and evidence packs."""
