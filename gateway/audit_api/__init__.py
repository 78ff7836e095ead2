"""The operation log's HTTP API: reviewers query, export and verify the log, owners read who
accessed their mailbox (docs/audit.md). A domain over `gateway.audit`, guarded like every other
(docs/architecture.md)."""
