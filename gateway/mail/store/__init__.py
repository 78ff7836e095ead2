"""The encrypted message store: messages and labels sealed under the mailbox's data key,
opened only with a policy `Access`, and the outbox events of their changes. No HTTP."""
