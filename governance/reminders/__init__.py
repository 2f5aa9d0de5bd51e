"""Nothing waits unseen: every task's owner, its due date from the service levels, the
e-mail that tells the owner when it arrives, before it is due and when it is overdue (with the
escalation), each person's digest, and the outbox page an administrator searches."""
