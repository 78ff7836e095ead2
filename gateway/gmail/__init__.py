"""The gateway's one way to Gmail: a googleapiclient resource built from a mailbox's refreshed
credentials, Google's quota unit costs, and Gmail errors mapped to the gateway's problems."""

from gateway.gmail.client import GmailClient, gmail_for
from gateway.gmail.costs import METHOD_COST, cost_of
from gateway.gmail.errors import GmailError, GmailNotFound, GmailRateLimited, GmailRejected

__all__ = ["METHOD_COST", "GmailClient", "GmailError", "GmailNotFound", "GmailRateLimited",
           "GmailRejected", "cost_of", "gmail_for"]
