"""Seeding mailboxes: .eml files, mbox files and a deterministic generator of realistic
mailboxes (threads, many senders, attachments of varied sizes, labels, read/unread)."""

from __future__ import annotations

import mailbox as stdlib_mailbox
import random
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path

from .labels import Label
from .mailbox import Mailbox

FIRST = ["Alice", "Bob", "Carol", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
         "Kemi", "Luca", "Maya", "Nils", "Olga", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
         "Uma", "Victor", "Wen", "Xavier", "Yara", "Zoe"]
LAST = ["Martin", "Nguyen", "Okafor", "Schmidt", "Rossi", "Garcia", "Kowalski", "Dubois",
        "Tanaka", "Silva", "Johansson", "Haddad", "Novak", "Murphy", "Costa", "Ivanova"]
DOMAINS = ["example.com", "example.org", "acme.test", "globex.test", "initech.test",
           "umbrella.test", "hooli.test", "vandelay.test"]
TOPICS = ["Quarterly report", "Invoice", "Meeting notes", "Project Alpha kickoff",
          "Contract renewal", "Offsite planning", "Bug triage", "Design review",
          "Customer feedback", "Hiring update", "Budget 2025", "Release checklist",
          "Travel itinerary", "Partnership proposal", "Security review", "Newsletter"]
WORDS = ["the", "a", "we", "should", "review", "update", "please", "attached", "find",
         "schedule", "customer", "team", "next", "week", "call", "agenda", "numbers", "budget",
         "draft", "final", "version", "thanks", "regards", "quick", "question", "about",
         "proposal", "deadline", "meeting", "notes", "follow", "up", "contract", "renewal",
         "pricing", "timeline", "launch", "feedback", "issue", "fixed", "deploy", "friday",
         "monday", "office", "remote", "plan"]
ATTACHMENTS = [("report.pdf", "application", "pdf"), ("photo.png", "image", "png"),
               ("data.csv", "text", "csv"), ("slides.pptx", "application",
                                             "vnd.openxmlformats-officedocument"
                                             ".presentationml.presentation"),
               ("notes.txt", "text", "plain"), ("archive.zip", "application", "zip")]
USER_LABELS = ["Work", "Receipts", "Projects/Alpha", "Travel", "Follow-up"]


def load_eml(box: Mailbox, paths: list[Path], labels: tuple[str, ...] = ("INBOX",)) -> int:
    for path in paths:
        box.add_message(path.read_bytes(), set(labels), date_source="dateHeader")
    return len(paths)


def load_mbox(box: Mailbox, path: Path, labels: tuple[str, ...] = ("INBOX",)) -> int:
    count = 0
    mbox = stdlib_mailbox.mbox(str(path), create=False)
    try:
        for key in mbox.iterkeys():
            raw = mbox.get_bytes(key)
            box.add_message(raw, set(labels), date_source="dateHeader")
            count += 1
    finally:
        mbox.close()
    return count


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def _body(rng: random.Random, paragraphs: int) -> str:
    return "\n\n".join(
        " ".join(_sentence(rng, rng.randint(6, 16)) for _ in range(rng.randint(1, 4)))
        for _ in range(paragraphs))


def _attachment_bytes(rng: random.Random, size: int, subtype: str) -> bytes:
    if subtype in ("csv", "plain"):
        rows = ["id,name,amount"] + [f"{i},{rng.choice(FIRST)},{rng.randint(1, 9999)}"
                                     for i in range(max(1, size // 20))]
        return ("\n".join(rows) + "\n").encode()[:size] or b"id\n"
    return rng.randbytes(size)


def generate(box: Mailbox, count: int, *, seed: int = 1, days: int = 90,
             now: datetime | None = None) -> int:
    """Add ``count`` deterministic, realistic messages to ``box``."""
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(days=days)
    label_ids: list[str] = []
    for name in USER_LABELS:
        existing = box.label_by_name_or_id(name)
        if existing is None:
            existing = Label(id=box.new_label_id(), name=name)
            box.labels[existing.id] = existing
        label_ids.append(existing.id)
    people = [(f"{rng.choice(FIRST)} {rng.choice(LAST)}", rng.choice(DOMAINS))
              for _ in range(max(8, count // 6))]
    contacts = [(name, f"{name.split()[0].lower()}.{name.split()[1].lower()}@{dom}")
                for name, dom in people]
    threads: list[tuple[str, list[str], str]] = []  # (subject, references, counterpart)
    times = sorted(start + timedelta(seconds=rng.randint(0, days * 86400))
                   for _ in range(count))
    for when in times:
        reply = threads and rng.random() < 0.35
        if reply:
            subject, refs, counterpart = rng.choice(threads)
            subject_line = "Re: " + subject
        else:
            name, counterpart = rng.choice(contacts)
            subject = f"{rng.choice(TOPICS)} #{rng.randint(100, 999)}"
            subject_line, refs = subject, []
        outgoing = rng.random() < 0.2
        msg = EmailMessage(policy=SMTP)
        msg["From"] = box.email if outgoing else counterpart
        msg["To"] = counterpart if outgoing else box.email
        if rng.random() < 0.2:
            msg["Cc"] = rng.choice(contacts)[1]
        msg["Subject"] = subject_line
        msg["Date"] = format_datetime(when)
        msg_id = make_msgid(domain=counterpart.split("@")[1] if not outgoing else "gmail.com",
                            idstring=f"{seed}.{len(box.messages)}")
        msg["Message-ID"] = msg_id
        if refs:
            msg["In-Reply-To"] = refs[-1]
            msg["References"] = " ".join(refs[-5:])
        text = _body(rng, rng.randint(1, 4))
        msg.set_content(text)
        if rng.random() < 0.3:
            msg.add_alternative("<html><body>" + "".join(
                f"<p>{p}</p>" for p in text.split("\n\n")) + "</body></html>", subtype="html")
        if rng.random() < 0.15:
            filename, maintype, subtype = rng.choice(ATTACHMENTS)
            size = int(rng.choice([2e3, 2e4, 1.5e5, 6e5, 2e6]) * rng.uniform(0.5, 1.5))
            msg.add_attachment(_attachment_bytes(rng, size, subtype), maintype=maintype,
                               subtype=subtype, filename=filename)
        labels: set[str] = {"SENT"} if outgoing else {"INBOX"}
        if not outgoing:
            if rng.random() < 0.3:
                labels.add("UNREAD")
            labels.add(rng.choice(["CATEGORY_PERSONAL", "CATEGORY_UPDATES",
                                   "CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL",
                                   "CATEGORY_FORUMS"]))
            if rng.random() < 0.1:
                labels.add("STARRED")
            if rng.random() < 0.25:
                labels.add("IMPORTANT")
            if rng.random() < 0.05:
                labels = {"SPAM"}
        if rng.random() < 0.3:
            labels.add(rng.choice(label_ids))
        box.add_message(msg.as_bytes(), labels, internal_date=int(when.timestamp() * 1000))
        if reply:
            refs.append(msg_id)
        else:
            threads.append((subject, [msg_id], counterpart))
    return count
