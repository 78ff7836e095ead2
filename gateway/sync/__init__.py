"""Mailbox sync: full and incremental sync from Gmail into the encrypted store, the per-mailbox
sync state, and the workers that claim mailboxes with leases (docs/sync.md)."""
