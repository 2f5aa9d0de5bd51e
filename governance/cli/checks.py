"""Who may run each command: the one list a reader checks, and that
tests/lifecycle/test_route_checks.py holds complete (a new command without an entry fails it).

Commands run on the host with its instance/ keys, so holding the shell account and the
instance folder is the check; they act as the `System` actor, recorded in the audit trail by
name. Pages and the API, which people reach over the network, check permissions instead."""

from __future__ import annotations

HOST = "host operator: shell access to the instance folder (acts as System)"
SERVICE = "host operator: starts a process of the service (acts as System for its jobs)"

COMMAND_CHECKS: dict[str, str] = {
    "init": HOST,
    "demo": HOST,
    "create-user": HOST,
    "expire": HOST,
    "serve": SERVICE,
    "worker": SERVICE,
    "analyses reap": HOST,
    "audit evidence": HOST,
    "audit export": HOST,
    "audit verify": HOST,
    "dataset create": HOST,
    "dataset ingest": HOST,
    "dataset list": HOST,
    "dataset verify": HOST,
    "datastore migrate-encryption": HOST,
    "datastore rewrap": HOST,
    "keys discard": HOST,
    "keys list": HOST,
    "keys rotate": HOST,
    "passport drop-keys": HOST,
    "passport keys": HOST + "; prints key ids, never a key",
    "passport rotate-key": HOST,
    "token create": HOST + "; the token carries its holder's permissions, checked per request",
    "token list": HOST + "; prints token names and holders, never a secret",
    "token revoke": HOST,
}
