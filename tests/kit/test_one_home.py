"""Common things have one home: the current time (gateway/kit/timeutil.py), the shapes of
Gmail's ids (gateway/kit/ids.py); a class name of gateway names one thing."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
TIME_HOME = GATEWAY / "kit" / "timeutil.py"
IDS_HOME = GATEWAY / "kit" / "ids.py"
# A character class of the URL-safe id alphabet, in any order: what a Gmail id pattern starts with.
ID_ALPHABET = re.compile(r"\[(?=[^\]]*A-Z)(?=[^\]]*a-z)(?=[^\]]*0-9)[^\]]*_[^\]]*\]\{1,\d+\}")


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8")))
            for path in sorted(GATEWAY.rglob("*.py"))]


def test_only_timeutil_defines_a_now_helper() -> None:
    found = [f"{path.relative_to(GATEWAY)}:{node.name}"
             for path, tree in _modules() if path != TIME_HOME
             for node in ast.walk(tree)
             if isinstance(node, ast.FunctionDef) and len(node.body) == 1
             and isinstance(node.body[0], ast.Return) and node.body[0].value is not None
             and ast.unparse(node.body[0].value) == "datetime.now(UTC)"]
    assert found == [], "use gateway.kit.timeutil.utcnow"


def _reads_the_clock(tree: ast.AST) -> list[int]:
    """Lines calling `datetime.now(...)` or `datetime.datetime.now(...)`."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "now"
            and ast.unparse(node.func.value) in {"datetime", "datetime.datetime"}]


def test_only_timeutil_reads_the_clock() -> None:
    found = [f"{path.relative_to(GATEWAY)}:{line}"
             for path, tree in _modules() if path != TIME_HOME
             for line in _reads_the_clock(tree)]
    assert found == [], "use gateway.kit.timeutil.utcnow"


def test_the_clock_check_sees_a_call() -> None:
    assert _reads_the_clock(ast.parse("x = datetime.now(UTC) - delta")) == [1]
    assert _reads_the_clock(ast.parse("import datetime\ndatetime.datetime.now(tz=UTC)")) == [2]
    assert _reads_the_clock(ast.parse("x = utcnow()")) == []


def test_only_kit_ids_spells_a_gmail_id_pattern() -> None:
    found = [f"{path.relative_to(GATEWAY)}:{node.lineno}"
             for path, tree in _modules() if path != IDS_HOME
             for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and ID_ALPHABET.search(node.value)]
    assert found == [], "use GMAIL_ID / LABEL_ID (gateway.kit.ids)"


def test_the_id_pattern_check_sees_a_copy() -> None:
    assert ID_ALPHABET.search(r"^[0-9a-zA-Z_-]{1,64}$")
    assert ID_ALPHABET.search(r"[A-Za-z0-9_\-]{1,100}")
    assert not ID_ALPHABET.search(r"^[0-9A-Za-z_\-=.]+$")  # a page token, not an id


def test_access_request_is_the_enforcement_points_alone() -> None:
    """`AccessRequest` is what the enforcement point decides on; an operator's request for a
    user's consent is a `ConsentRequest`."""
    defined = defaultdict(list)
    for path, tree in _modules():
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name in {"AccessRequest", "ConsentRequest"}:
                defined[node.name].append(str(path.relative_to(GATEWAY)))
    assert dict(defined) == {"AccessRequest": ["policy/enforcement.py"],
                             "ConsentRequest": ["consent/models.py"]}


def _classes_defined_twice(modules: list[tuple[str, ast.Module]]) -> dict[str, list[str]]:
    defined = defaultdict(list)
    for name, tree in modules:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                defined[node.name].append(f"{name}:{node.lineno}")
    return {cls: where for cls, where in defined.items() if len(where) > 1}


def test_every_class_name_of_gateway_names_one_thing() -> None:
    """A reader (and a grep) finds one class for a name: two unrelated `Claim`s read as one."""
    twice = _classes_defined_twice([(str(path.relative_to(GATEWAY)), tree)
                                    for path, tree in _modules()])
    assert twice == {}


def test_the_class_name_check_sees_a_second_definition() -> None:
    modules = [("a.py", ast.parse("class Claim:\n    pass")),
               ("b.py", ast.parse("def f():\n    class Claim:\n        pass"))]
    assert _classes_defined_twice(modules) == {"Claim": ["a.py:1", "b.py:2"]}
