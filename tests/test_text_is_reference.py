"""The project's text says what is, for its reader; it does not narrate its own history.

Docs, comments, docstrings, Rego and test names are read by CRM developers, operators, reviewers
and the next engineer. Dated runs, numbered work sessions, tracker numbers and "the old ..." tell
them how the text came to be, not what the product does; such history belongs in a decision record
(docs/decisions/) as context for a decision, stated without dates or work-item numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("gateway", "emulator", "policies", "docs", "tests", "bench", "scripts", "README.md")
SUFFIXES = {".py", ".md", ".rego", ".yaml", ".yml", ".json", ".sh", ".toml", ".html", ".txt",
            ".css", ".js", ".cfg", ".ini"}
SKIPPED_DIRS = {"compiled", "__pycache__", "node_modules"}

# Each pattern is a way text narrates history; built from parts so this file does not match itself.
NARRATION = {
    "a numbered work session": r"\b[Ss]ess" r"ion \d+\b",
    "a tracker number": r"\b[Ii]ss" r"ue #?\d+\b",
    "a dated run": r"\b20\d\d-\d\d-\d\d \d\d:\d\d\b",
    "a former component": (r"\b[Rr]ego" r"py\b"
                           r"|\bthe (old|former) (client|engine|code|policy|parser)\b"),
    "a before/after of the code": r"\b(was|were) [0-9.,]+ ?(ms|µs|s|%)(?![a-z])\b|\bBefore: ",
    "the work itself": r"\bthe lead's\b|\bhelper sess" r"ions?\b",
}
COMPILED = {name: re.compile(pattern) for name, pattern in NARRATION.items()}


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for entry in SCANNED:
        path = ROOT / entry
        if path.is_file():
            files.append(path)
            continue
        for file in sorted(path.rglob("*")):
            if (file.is_file() and file.suffix in SUFFIXES
                    and not SKIPPED_DIRS.intersection(file.relative_to(ROOT).parts)):
                files.append(file)
    return files


def narration_in(text: str) -> list[tuple[int, str, str]]:
    hits = []
    for number, line in enumerate(text.splitlines(), start=1):
        for name, pattern in COMPILED.items():
            if pattern.search(line):
                hits.append((number, name, line.strip()))
    return hits


@pytest.mark.parametrize("line", [
    "Measured in sess" "ion 7 on the VM.",
    "Fixed for iss" "ue #12.",
    "Latest runs (2026-11-22 13:29, three runs)",
    "Before: rego" "py (rego-cpp)",
    "the old client retried once",
    "CPU per message 2.1 ms (was 6.0 ms)",
])
def test_the_check_recognises_narration(line: str) -> None:
    assert narration_in(line), line


@pytest.mark.parametrize("line", [
    '"internal_date": "2026-11-10T10:00:00Z"',
    "occurred_at 2026-11-22T10:15:03.120431Z",
    "`after:`/`before:` (YYYY/MM/DD as UTC)",
    "a session cookie expires after 30 minutes",
    "The old and the new secret are both accepted during a rotation.",
])
def test_the_check_leaves_reference_text_alone(line: str) -> None:
    assert not narration_in(line), line


def test_no_text_in_the_project_narrates_its_history() -> None:
    own = Path(__file__).resolve()
    found = []
    for file in scanned_files():
        if file.resolve() == own:
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        found += [f"{file.relative_to(ROOT)}:{n}: {name}: {line[:120]}"
                  for n, name, line in narration_in(text)]
    assert not found, "text that narrates history:\n" + "\n".join(found)
