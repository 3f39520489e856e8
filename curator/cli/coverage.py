"""`curator coverage`: trajectories by task family, tool, tool sequence and failure tag (SPEC 12)."""

from __future__ import annotations

from curator.cli import add_db, add_json
from curator.coverage import FEW, TOP, coverage
from curator.store import Store


def register(sub) -> str:
    p = sub.add_parser("coverage", help="what the store covers, and what has few accepted examples")
    p.add_argument(
        "--few", type=int, default=FEW, metavar="N", help=f"'few' is below N accepted (default {FEW})"
    )
    p.add_argument("--top", type=int, default=TOP, metavar="N", help=f"tool sequences listed (default {TOP})")
    add_db(p)
    add_json(p)
    return "coverage"


def run(args) -> dict:
    with Store(args.db, read_only=True) as store:
        return coverage(store, args.few, args.top)


def _table(title: str, rows: list[dict]) -> list[str]:
    lines = [f"{title}: trajectories / accepted / failed / pending"]
    lines += [
        f"  {r['name']}: {r['trajectories']} / {r['accepted']} / {r['failed']} / {r['pending']}" for r in rows
    ]
    return lines


def human(r: dict) -> str:
    few = r["few_accepted"]
    lines = [
        *_table("task families", r["families"]),
        *_table("tools", r["tools"]),
        *_table(f"tool sequences ({r['distinct_tool_sequences']} distinct)", r["tool_sequences"]),
        "failure tags: " + ", ".join(f"{t['name']} {t['failed']}" for t in r["failure_tags"]),
        (
            f"fewer than {few['below']} accepted: tools {', '.join(few['tools']) or 'none'}; "
            f"families {', '.join(few['families']) or 'none'}"
        ),
    ]
    return "\n".join(lines)
