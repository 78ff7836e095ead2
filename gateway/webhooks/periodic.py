"""Webhook delivery as a periodic task of the sync worker (`gmail-gateway worker`).

Every worker runs `deliver_webhooks` every `DELIVERY_INTERVAL_SECONDS`; concurrent runs are safe
(gateway.webhooks.delivery claims with SKIP LOCKED and leases). One pass stops claiming after
`GATEWAY_WEBHOOK_PASS_SECONDS`, so a slow receiver delays the worker's sync loop by at most that
plus one request timeout.
"""

from __future__ import annotations

from gateway.sync.steps import SyncServices
from gateway.sync.worker import register_periodic
from gateway.webhooks.delivery import DeliveryReport, deliver_due

DELIVERY_TASK = "webhook-delivery"
DELIVERY_INTERVAL_SECONDS = 2.0


def deliver_webhooks(services: SyncServices) -> DeliveryReport:
    return deliver_due(services.database, services.crypto, services.settings,
                       oplog=services.enforcer.oplog)


def install() -> None:
    register_periodic(DELIVERY_TASK, DELIVERY_INTERVAL_SECONDS, deliver_webhooks)
