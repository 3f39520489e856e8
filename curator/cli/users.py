"""`curator users add NAME`: reviewer logins for `curator serve --users FILE`."""

from __future__ import annotations

import getpass
import sys

from curator.cli import JobError, add_json

DEFAULT_USERS = "curator-users.txt"


def register(sub) -> str:
    p = sub.add_parser("users", help="manage reviewer logins (salted password hashes)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a reviewer, or change their password")
    add.add_argument("name")
    add.add_argument(
        "--users", metavar="FILE", default=DEFAULT_USERS, help=f"users file (default ./{DEFAULT_USERS})"
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (the default when stdin is not a terminal)",
    )
    add_json(add)
    return "users"


def run(args) -> dict:
    from curator.auth import add_user

    if args.password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise JobError("no password on the first line of stdin; nothing was written")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise JobError("the two passwords differ; nothing was written")
    added = add_user(args.users, args.name, password)
    return {"users": args.users, "name": args.name, "added": added}


def human(result: dict) -> str:
    did = "added reviewer" if result["added"] else "changed the password of"
    return f"{did} {result['name']} in {result['users']}"
