"""Which encrypted columns hold secrets the gateway itself owns, as opposed to user content.

Everything sealed is bound to a (table, column); the pairs below are the gateway's own secrets
and records — OAuth tokens, webhook signing secrets, the sealed reasons of reviewers'
justifications and of operators' consent requests. They open through
`CryptoService.open_owned_secret`, which needs no `Access` and refuses every other column.
Every other encrypted column is user content (message summaries, bodies and raw bytes, label
names, the mailbox's Google address) and opens only through `CryptoService.open_content` with
an `Access` the enforcement point minted (docs/encryption.md, "Who may open what").
"""

from __future__ import annotations

OWNED_SECRET_COLUMNS: frozenset[tuple[str, str]] = frozenset({
    ("oauth_tokens", "refresh_token"),
    ("oauth_tokens", "access_token"),
    ("webhook_endpoints", "secret"),
    ("justifications", "reason"),
    ("consent_requests", "justification"),
})


def is_owned_secret(table: str, column: str) -> bool:
    return (table, column) in OWNED_SECRET_COLUMNS
