"""Webhooks to the CRM: ids and non-content metadata of message and mailbox changes, written to an
outbox in the same transaction as the change, delivered signed (HMAC-SHA256) with retries.
See docs/webhooks.md."""
