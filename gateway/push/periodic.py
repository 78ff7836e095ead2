"""Watch renewal as a periodic task of the sync worker (`gmail-gateway worker`).

`install()` registers `renew_watches` with `gateway.sync.worker.register_periodic`; every worker
then runs it every `RENEWAL_INTERVAL_SECONDS` (the first time at start-up). Running it on many
workers at once is safe (`WatchKeeper` locks each watch row with SKIP LOCKED), and each run is
one indexed query when nothing is due, so a short interval costs little and gets a newly
connected mailbox its watch within minutes. The Gmail calls share the mailbox's quota budget
with its sync (`services.budgets`).
"""

from __future__ import annotations

from gateway.push.watches import WatchKeeper, WatchReport
from gateway.sync.steps import SyncServices
from gateway.sync.worker import register_periodic

RENEWAL_TASK = "push-watch-renewal"
RENEWAL_INTERVAL_SECONDS = 300.0


def renew_watches(services: SyncServices) -> WatchReport:
    keeper = WatchKeeper(services.database, services.crypto, services.settings,
                         services.enforcer,
                         budget_for=lambda mailbox: services.budgets.for_mailbox(mailbox.id))
    return keeper.renew_due()


def install() -> None:
    register_periodic(RENEWAL_TASK, RENEWAL_INTERVAL_SECONDS, renew_watches)
