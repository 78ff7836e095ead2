"""The sync's Prometheus metrics: Gmail retries and error answers as they happen, runs by
outcome, lease takeovers.

A worker process serves them with `GATEWAY_SYNC_METRICS_PORT` (`gmail-gateway worker`); the
in-process worker of the SQLite demo registers them with the API's own `/metrics`. The same
numbers per mailbox are in `GET /v1/mailboxes/{id}/sync` (`quota.retries`, `quota.rate_limited`,
`quota.server_errors`), written when they happen too.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class SyncMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.retries = Counter(
            "gateway_sync_gmail_retries_total",
            "Gmail calls or batches the sync sent again, by what the failed attempt met "
            "(rate_limited, server_error, timeout, network, stale_connection)",
            ["kind"], registry=self.registry)
        self.errors = Counter(
            "gateway_sync_gmail_errors_total",
            "Gmail error answers the sync received, by kind (rate_limited, server_error, ...; "
            "each batch member counted)", ["kind"], registry=self.registry)
        self.runs = Counter("gateway_sync_runs_total",
                            "Sync runs by outcome (ok, failed, stopped, interrupted, lease_lost)",
                            ["outcome"], registry=self.registry)
        self.takeovers = Counter(
            "gateway_sync_lease_takeovers_total",
            "Mailboxes claimed while another worker's lease on them had expired unreleased",
            registry=self.registry)
