"""Gmail push: `users.watch` per mailbox (renewed daily), and the endpoint Google's Pub/Sub push
subscription calls, which verifies Pub/Sub's OIDC token and asks the sync worker for an
incremental sync by setting `Mailbox.sync_requested_at` (docs/push.md)."""
