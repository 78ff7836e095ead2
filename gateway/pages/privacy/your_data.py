"""The owner's rights over a mailbox's data — export, restrict / lift, disconnect, delete — and,
for each destructive step, the confirmation saying what will happen. Which steps a mailbox
offers follows the services' own rules (`gateway.mailboxes.restriction`: a disconnected mailbox
cannot be restricted; `gateway.oauth.service.disconnect`: deleting shreds the data key once)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.mailboxes.models import Mailbox
from gateway.policy.vocabulary import Action, MailboxState


class Step(StrEnum):
    restrict = "restrict"
    lift = "lift"
    disconnect = "disconnect"
    delete = "delete"


@dataclass(frozen=True)
class Confirmation:
    step: Step
    title: str
    will_happen: tuple[str, ...]
    will_not_happen: tuple[str, ...]
    button: str
    action: Action       # the policy action the step is decided as (the API's)
    destructive: bool
    path: str  # the form posts to /me/mailboxes/{id}/<path> (gateway/pages/privacy/actions.py)


CONFIRMATIONS: dict[Step, Confirmation] = {
    Step.restrict: Confirmation(
        Step.restrict, "Restrict processing of this mailbox",
        ("The CRM stops syncing and reading this mailbox; nothing more is fetched from Gmail.",
         "Operators can no longer ask for or use access to your mail.",
         "The mail already copied stays, encrypted, until you lift the restriction or delete "
         "it."),
        ("Your Gmail account itself is not changed.",
         "You can still export, delete, manage human access and lift the restriction."),
        "Restrict processing", Action.data_restrict, True, "restriction"),
    Step.lift: Confirmation(
        Step.lift, "Lift the restriction",
        ("The CRM may process this mailbox again as you allowed when you connected it.",
         "A sync starts to catch up with what arrived in the meantime (or, if Google no "
         "longer accepts the CRM's access, the mailbox asks you to reconnect)."),
        (), "Lift the restriction", Action.data_restrict, False, "restriction/lift"),
    Step.disconnect: Confirmation(
        Step.disconnect, "Disconnect this mailbox",
        ("The CRM's access is revoked at Google and its tokens are deleted.",
         "Syncing stops; the CRM's email features stop working for this mailbox."),
        ("The mail already copied is kept, encrypted; delete it separately if you wish.",
         "The access log keeps its entries for a year, as the law requires."),
        "Disconnect", Action.oauth_disconnect, True, "disconnect"),
    Step.delete: Confirmation(
        Step.delete, "Delete this mailbox's data",
        ("The CRM's access is revoked at Google and its tokens are deleted.",
         "Every message copied from your Gmail is deleted, with your address and the "
         "operators' request texts.",
         "The mailbox's encryption key is destroyed, so backups can no longer be read either.",
         "This cannot be undone: connecting again starts a new, empty mailbox."),
        ("Your mail in Gmail itself is not touched.",
         "The access log keeps its entries (ids, never content) for a year."),
        "Delete my data", Action.oauth_disconnect, True, "delete"),
}


@dataclass(frozen=True)
class DataChoices:
    can_export: bool
    can_restrict: bool
    can_lift: bool
    can_disconnect: bool
    can_delete: bool
    data_deleted: bool


def data_choices(mailbox: Mailbox) -> DataChoices:
    state = mailbox.state
    deleted = mailbox.data_deleted_at is not None
    return DataChoices(
        can_export=not deleted,
        can_restrict=state not in (MailboxState.restricted.value,
                                   MailboxState.disconnected.value),
        can_lift=state == MailboxState.restricted.value,
        can_disconnect=state != MailboxState.disconnected.value,
        can_delete=not deleted,
        data_deleted=deleted)


def step_available(mailbox: Mailbox, step: Step) -> bool:
    choices = data_choices(mailbox)
    return {Step.restrict: choices.can_restrict, Step.lift: choices.can_lift,
            Step.disconnect: choices.can_disconnect, Step.delete: choices.can_delete}[step]
