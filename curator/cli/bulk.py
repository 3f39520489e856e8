"""`curator bulk accept|fail`: decide many pending trajectories at once, as events."""

from __future__ import annotations

import getpass

from curator.cli import add_db, add_json
from curator.review import bulk
from curator.store import Store


def register(sub) -> str:
    p = sub.add_parser("bulk", help="accept or fail every pending trajectory that matches")
    p.add_argument("action", choices=["accept", "fail"])
    p.add_argument("--source-label", choices=["success", "failure"])
    p.add_argument("--format", help="only trajectories imported from this format")
    p.add_argument("--file", metavar="PATTERN", help="only trajectories from matching files (glob)")
    p.add_argument("--task", nargs="+", metavar="KEY", help="only trajectories of these tasks")
    p.add_argument(
        "--tag",
        nargs="+",
        default=[],
        metavar="TAG",
        help="failure tags (fail; default: the source's own tags, else 'other')",
    )
    p.add_argument("--reviewer", default=None, help="name on the events (default: local user)")
    add_db(p)
    add_json(p)
    return "bulk"


def run(args) -> dict:
    with Store(args.db, keep_empty=False) as store:
        decided = bulk(
            store,
            args.action,
            args.reviewer or getpass.getuser(),
            source_label=args.source_label,
            source_format=args.format,
            file_pattern=args.file,
            tags=args.tag,
            task_keys=args.task,
        )
    return {"decided": decided}


def human(result: dict) -> str:
    return f"{result['decided']} trajectories decided"
