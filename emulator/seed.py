"""Seeding mailboxes: .eml files, mbox files and a deterministic generator of realistic
mailboxes (threads, many senders, attachments of varied sizes, labels, read/unread)."""

from __future__ import annotations

import base64
import mailbox as stdlib_mailbox
import quopri
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
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


# A message file starts with a header field ("Name:") or an mbox "From " line.
_MESSAGE_START = re.compile(rb"(?:From |[\041-\071\073-\176]+:)")


@dataclass
class SeedReport:
    """What `load_message_files` did: how many messages it loaded, which files it skipped."""

    loaded: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def message_files(spec: str) -> list[Path]:
    """The files `spec` names, sorted: a file; a directory (every file under it, recursively,
    whatever its extension; hidden files and directories excluded); or a glob pattern
    (`corpus/*.msg`, `corpus/**/*`)."""
    path = Path(spec)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file()
                      and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if any(c in spec for c in "*?["):
        anchor = Path(spec).anchor
        pattern = spec[len(anchor):] if anchor else spec
        return sorted(p for p in Path(anchor or ".").glob(pattern) if p.is_file())
    return []


def load_message_files(box: Mailbox, spec: str,
                       labels: tuple[str, ...] = ("INBOX",)) -> SeedReport:
    """Load every message file `spec` names (`message_files`); a file that is empty, not
    readable or does not start like a message (a header field or a "From " line) is
    skipped with its reason."""
    report = SeedReport()
    files = message_files(spec)
    if not files:
        report.skipped.append((Path(spec), "no such file, directory or matching file"))
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            report.skipped.append((path, f"unreadable: {exc.strerror or exc}"))
            continue
        if not raw.strip():
            report.skipped.append((path, "empty"))
        elif not _MESSAGE_START.match(raw):
            report.skipped.append((path, "not a message: it does not start with a header"))
        else:
            box.add_message(raw, set(labels), date_source="dateHeader")
            report.loaded += 1
    return report


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
                                     for i in range(200)]
        block = ("\n".join(rows) + "\n").encode()
        return (block * (size // len(block) + 1))[:size]
    return rng.randbytes(size)


def _b64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def build_message(headers: list[tuple[str, str]], text: str, html: str | None,
                  attachment: tuple[str, str, bytes] | None, rng: random.Random) -> bytes:
    """Assemble RFC 5322 bytes directly (the email package's generator is slow for big
    attachments): text/plain, optionally with an HTML alternative and one attachment."""
    def boundary() -> str:
        return f"000000000000{rng.getrandbits(48):012x}"

    def text_part(subtype: str, body: str) -> bytes:
        return (f"Content-Type: text/{subtype}; charset=\"UTF-8\"\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode() + \
            quopri.encodestring(body.replace("\n", "\r\n").encode()) + b"\r\n"

    body = text_part("plain", text)
    if html is not None:
        alt = boundary()
        body = (f'Content-Type: multipart/alternative; boundary="{alt}"\r\n\r\n'
                f"--{alt}\r\n").encode() + body + f"--{alt}\r\n".encode() + \
            text_part("html", html) + f"--{alt}--\r\n".encode()
    if attachment is not None:
        filename, mime, data = attachment
        mixed = boundary()
        body = (f'Content-Type: multipart/mixed; boundary="{mixed}"\r\n\r\n'
                f"--{mixed}\r\n").encode() + body + (
            f"--{mixed}\r\n"
            f'Content-Type: {mime}; name="{filename}"\r\n'
            f'Content-Disposition: attachment; filename="{filename}"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + _b64_lines(data) + \
            f"--{mixed}--\r\n".encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers) + "MIME-Version: 1.0\r\n"
    return head.encode() + body


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
    threads: list[tuple[str, list[str], str]] = []
    counterpart_name: dict[str, str] = {}  # (subject, references, counterpart)
    times = sorted(start + timedelta(seconds=rng.randint(0, days * 86400))
                   for _ in range(count))
    for when in times:
        reply = threads and rng.random() < 0.35
        if reply:
            subject, refs, counterpart = rng.choice(threads)
            name = counterpart_name[counterpart]
            subject_line = "Re: " + subject
        else:
            name, counterpart = rng.choice(contacts)
            counterpart_name[counterpart] = name
            subject = f"{rng.choice(TOPICS)} #{rng.randint(100, 999)}"
            subject_line, refs = subject, []
        outgoing = rng.random() < 0.2
        headers = [("From", box.email if outgoing else f"{name} <{counterpart}>"),
                   ("To", counterpart if outgoing else box.email)]
        if rng.random() < 0.2:
            headers.append(("Cc", rng.choice(contacts)[1]))
        headers += [("Subject", subject_line), ("Date", format_datetime(when))]
        domain = counterpart.split("@")[1] if not outgoing else "mail.gmail.com"
        msg_id = f"<CA{seed}.{len(box.messages)}.{rng.getrandbits(40):010x}@{domain}>"
        headers.append(("Message-ID", msg_id))
        if refs:
            headers += [("In-Reply-To", refs[-1]), ("References", " ".join(refs[-5:]))]
        text = _body(rng, rng.randint(1, 4))
        html = None
        if rng.random() < 0.3:
            html = "<html><body>" + "".join(
                f"<p>{p}</p>" for p in text.split("\n\n")) + "</body></html>"
        attachment = None
        if rng.random() < 0.15:
            filename, maintype, subtype = rng.choice(ATTACHMENTS)
            size = int(rng.choice([2e3, 2e4, 1.5e5, 6e5, 2e6]) * rng.uniform(0.5, 1.5))
            attachment = (filename, f"{maintype}/{subtype}",
                          _attachment_bytes(rng, size, subtype))
        raw = build_message(headers, text, html, attachment, rng)
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
        box.add_message(raw, labels, internal_date=int(when.timestamp() * 1000))
        if reply:
            refs.append(msg_id)
        else:
            threads.append((subject, [msg_id], counterpart))
    return count
