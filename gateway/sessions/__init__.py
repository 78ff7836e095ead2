"""Page sessions: a one-time link the CRM asks for on a person's behalf, exchanged for a
session cookie that authenticates that person's pages (docs/pages.md)."""
