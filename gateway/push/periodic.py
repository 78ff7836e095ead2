"""Watch renewal as a periodic job of the scheduler (`gmail-gateway scheduler`, every five
minutes by default: gateway/scheduler/jobs.py) and by `gmail-gateway push renew-watches`.

Each run is one indexed query when nothing is due, so a short cadence costs little and gets a
newly connected mailbox its watch within minutes. Running it from several processes at once is
safe (`WatchKeeper` locks each watch row with SKIP LOCKED). The Gmail calls share the mailbox's
quota budget with its sync (`services.budgets`).
"""

from __future__ import annotations

from gateway.push.watches import WatchKeeper, WatchReport
from gateway.sync.steps import SyncServices


def renew_watches(services: SyncServices, *, limit: int = 500) -> WatchReport:
    keeper = WatchKeeper(services.database, services.crypto, services.settings,
                         services.enforcer,
                         budget_for=lambda mailbox: services.budgets.for_mailbox(mailbox.id))
    return keeper.renew_due(limit=limit)
