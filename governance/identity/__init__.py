"""People, organisations, roles and training; signing in, sessions, passwords, API tokens
and role changes."""
