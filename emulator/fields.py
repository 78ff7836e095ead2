"""Google's ``fields`` partial-response parameter: ``a,b/c,d(e,f)``; ``*`` keeps everything."""

from __future__ import annotations

from typing import Any

from . import errors

Tree = dict[str, "Tree | None"]


def parse(spec: str) -> Tree:
    pos = 0

    def parse_list(end: str | None) -> Tree:
        nonlocal pos
        tree: Tree = {}
        while pos < len(spec):
            start = pos
            while pos < len(spec) and spec[pos] not in ",()/":
                pos += 1
            name = spec[start:pos].strip()
            if not name:
                raise errors.invalid_argument(f"Invalid field selection {spec}")
            sub: Tree | None = None
            if pos < len(spec) and spec[pos] == "/":
                pos += 1
                sub = parse_path()
            elif pos < len(spec) and spec[pos] == "(":
                pos += 1
                sub = parse_list(")")
                if pos >= len(spec) or spec[pos] != ")":
                    raise errors.invalid_argument(f"Invalid field selection {spec}")
                pos += 1
            tree[name] = merge(tree.get(name, {}), sub) if name in tree else sub
            if pos < len(spec) and spec[pos] == ",":
                pos += 1
                continue
            if end is not None and pos < len(spec) and spec[pos] == end:
                return tree
            if pos < len(spec):
                raise errors.invalid_argument(f"Invalid field selection {spec}")
        if end is not None:
            raise errors.invalid_argument(f"Invalid field selection {spec}")
        return tree

    def parse_path() -> Tree:
        nonlocal pos
        start = pos
        while pos < len(spec) and spec[pos] not in ",()/":
            pos += 1
        name = spec[start:pos].strip()
        if not name:
            raise errors.invalid_argument(f"Invalid field selection {spec}")
        if pos < len(spec) and spec[pos] == "/":
            pos += 1
            return {name: parse_path()}
        if pos < len(spec) and spec[pos] == "(":
            pos += 1
            sub = parse_list(")")
            pos += 1
            return {name: sub}
        return {name: None}

    return parse_list(None)


def merge(a: Tree | None, b: Tree | None) -> Tree | None:
    if a is None or b is None:
        return None
    out = dict(a)
    for key, value in b.items():
        out[key] = merge(out[key], value) if key in out else value
    return out


def apply(value: Any, tree: Tree | None) -> Any:
    if tree is None or "*" in tree:
        return value
    if isinstance(value, list):
        return [apply(item, tree) for item in value]
    if isinstance(value, dict):
        return {k: apply(v, tree[k]) for k, v in value.items() if k in tree}
    return value
