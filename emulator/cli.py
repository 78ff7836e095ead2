"""``gmail-emulator serve --host 127.0.0.1 --port 8765 [--seed-generate N] [--seed-mbox FILE]
[--seed-eml FILE|DIR|GLOB]``"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from . import seed
from .app import create_app
from .mailbox import Mailbox
from .state import EmulatorState

log = logging.getLogger("emulator")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gmail-emulator",
                                     description="A local Google: OAuth, Gmail API v1, push.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the emulator")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--base-url", help="URL clients use (default http://HOST:PORT)")
    serve.add_argument("--user", action="append", default=[],
                       help="create this user (repeatable); seeds go to the first one")
    serve.add_argument("--seed-generate", type=int, default=0, metavar="N",
                       help="generate N realistic messages")
    serve.add_argument("--seed", type=int, default=1, help="generator seed")
    serve.add_argument("--seed-mbox", type=Path, action="append", default=[], metavar="FILE")
    serve.add_argument("--seed-eml", action="append", default=[], metavar="FILE|DIR|GLOB",
                       help="message files: a file, a directory (every file under it, any "
                            "extension) or a glob pattern such as 'corpus/**/*.msg' "
                            "(repeatable); says how many were loaded and skipped")
    serve.add_argument("--push-url", help="where Pub/Sub push notifications are POSTed")
    serve.add_argument("--push-audience", help="OIDC audience of push tokens")
    serve.add_argument("--client", action="append", default=[],
                       metavar="ID:SECRET:REDIRECT_URI[,REDIRECT_URI...]",
                       help="register an OAuth client (repeatable)")
    serve.add_argument("--no-quota", action="store_true", help="disable quota enforcement")
    serve.add_argument("--keep-alive-seconds", type=float, default=5.0, metavar="S",
                       help="close a kept-alive connection idle this long (default 5)")
    serve.add_argument("--log-level", default="info")
    return parser


def seed_mailbox(box: Mailbox, args: argparse.Namespace) -> None:
    """Seed the first user's mailbox as the command line asks, logging what was loaded."""
    with box.lock:
        if args.seed_generate:
            seed.generate(box, args.seed_generate, seed=args.seed)
        for mbox in args.seed_mbox:
            seed.load_mbox(box, mbox)
        for spec in args.seed_eml:
            report = seed.load_message_files(box, spec)
            for path, reason in report.skipped:
                log.warning("--seed-eml %s: skipped %s (%s)", spec, path, reason)
            log.info("--seed-eml %s: loaded %d messages, skipped %d files", spec, report.loaded,
                     len(report.skipped))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import uvicorn

    from .state import OAuthClient

    logging.basicConfig(level=args.log_level.upper())
    state = EmulatorState()
    base_url = args.base_url or f"http://{args.host}:{args.port}"
    for spec in args.client:
        client_id, secret, uris = spec.split(":", 2)
        state.register_client(OAuthClient(client_id, secret, uris.split(",")))
    users = args.user or ["user@example.com"]
    for email in users:
        state.add_user(email)
    box = state.users[users[0].lower()].mailbox
    seed_mailbox(box, args)
    settings = {"quota_enabled": False} if args.no_quota else None
    app = create_app(state, base_url=base_url, push_url=args.push_url,
                     push_audience=args.push_audience, settings=settings)
    log.info("gmail emulator on %s (users: %s, %d messages)", base_url, ", ".join(users),
             len(box.messages))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level.lower(),
                timeout_keep_alive=args.keep_alive_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
