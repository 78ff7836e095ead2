#!/usr/bin/env bash
# Re-pin constraints.txt to the newest versions pyproject.toml allows: a throwaway venv installs
# the project without constraints, and its `pip freeze` replaces the pins. Run the whole suite
# (scripts/test.sh) before committing the result.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --upgrade pip
"$tmp/venv/bin/pip" install -q "$ROOT[dev]"
{
  sed -n '1,/^[^#]/{/^#/p}' "$ROOT/constraints.txt"
  "$tmp/venv/bin/pip" freeze --exclude-editable | grep -v -E '^gmail-gateway( @|==)'
} > "$tmp/constraints.txt"
mv "$tmp/constraints.txt" "$ROOT/constraints.txt"
echo "constraints.txt re-pinned; now run scripts/test.sh"
