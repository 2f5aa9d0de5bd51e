"""Analysis runs: submission inside an approved scope, the scope gate, the worker's
runner, the differencing ledger, partner cohorts and the report. The statistical engine
is the pure library `analysis/engine/` (no database, no Flask)."""
