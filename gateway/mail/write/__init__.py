"""The mail API's write routes (send, drafts, modify, labels): Gmail first, then the store,
with their schemas, the MIME they compose and the idempotency of sends."""
