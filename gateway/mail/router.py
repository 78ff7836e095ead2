"""The mail API's one router (gateway.app.ROUTERS): the read routes (gateway.mail.read), then
the write routes (gateway.mail.write). Each route module has its own `GuardedRouter`, so every
route names its policy action where it is declared; see gateway.guard.routing."""

from __future__ import annotations

from gateway.guard.routing import GuardedRouter
from gateway.mail.read import attachments, export, messages, search, threads, timeline
from gateway.mail.write import drafts, labels, modify, send

router = GuardedRouter()
for part in (threads.router, attachments.router, search.router, timeline.router, export.router,
             messages.router, send.router, drafts.router, modify.router, labels.router):
    router.include(part)
