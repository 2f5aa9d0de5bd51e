"""The public data-use register: which projects use which data, from the live records."""
