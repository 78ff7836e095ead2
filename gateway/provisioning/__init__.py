"""The tenant admin's provisioning API (principals, API keys, connect and page links):
docs/provisioning.md. A domain over accounts, guarded like every other (docs/architecture.md)."""
