"""The gateway's one way to Gmail: a googleapiclient resource built from credentials (a
mailbox's: `gateway.mailboxes.gmail_access`), Google's quota unit costs, and Gmail errors mapped to
the gateway's problems."""

from gateway.gmail.client import GmailClient
from gateway.gmail.costs import METHOD_COST, cost_of
from gateway.gmail.errors import GmailError, GmailNotFound, GmailRateLimited, GmailRejected

__all__ = ["METHOD_COST", "GmailClient", "GmailError", "GmailNotFound", "GmailRateLimited",
           "GmailRejected", "cost_of"]
