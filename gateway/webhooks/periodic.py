"""Webhook delivery as a periodic job of the scheduler (`gmail-gateway scheduler`, every two
seconds by default: gateway/scheduler/jobs.py) and by `gmail-gateway webhooks deliver`.

Concurrent runs are safe (gateway.webhooks.delivery claims with SKIP LOCKED and leases). One
pass stops claiming after `GATEWAY_WEBHOOK_PASS_SECONDS`.
"""

from __future__ import annotations

from gateway.sync.steps import SyncServices
from gateway.webhooks.delivery import DeliveryReport, deliver_due


def deliver_webhooks(services: SyncServices) -> DeliveryReport:
    return deliver_due(services.database, services.crypto, services.settings,
                       oplog=services.enforcer.oplog)
