"""The webhook outbox: one row per event, written in the transaction of the change it announces,
so a rolled-back change leaves no event and a committed one always has its event. The changes
announce themselves (gateway.mail.store.events for messages, gateway.mailboxes.events for
mailboxes); gateway.webhooks delivers the rows. Imports no domain."""
