"""Webhook delivery as a periodic job of the scheduler (`gmail-gateway scheduler`, every two
seconds by default: gateway/scheduler/jobs.py) and by `gmail-gateway webhooks deliver`.

Concurrent runs are safe (gateway.webhooks.delivery claims with SKIP LOCKED and leases). One
pass stops claiming after `GATEWAY_WEBHOOK_PASS_SECONDS`.
"""

from __future__ import annotations

from gateway.audit.writer import OperationLog
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.settings import Settings
from gateway.webhooks.delivery import DeliveryReport, deliver_due


def deliver_webhooks(database: Database, crypto: CryptoService, settings: Settings,
                     oplog: OperationLog) -> DeliveryReport:
    return deliver_due(database, crypto, settings, oplog=oplog)
