"""`curator backup OUT`: a consistent copy of the store, also while `curator serve` runs."""

from __future__ import annotations

from curator.backup import backup
from curator.cli import add_db, add_json
from curator.store import db_path


def register(sub) -> str:
    p = sub.add_parser(
        "backup",
        help="copy the store to a new file, consistently, also while the app runs (through the app)",
    )
    p.add_argument("out", metavar="OUT", help="the backup file to write (a DuckDB store)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    add_db(p)
    add_json(p)
    return "backup"


def run(args) -> dict:
    return {"store": str(db_path(args.db)), **backup(db_path(args.db), args.out, args.overwrite)}


def human(result: dict) -> str:
    via = "through the running app" if result["via"] == "app" else "from the store file"
    return (
        f"backed up {result['store']} to {result['out']} {via}: {result['trajectories']} trajectories, "
        f"{result['events']} events, {result['bytes']} bytes (restore: stop the app, copy it over the store)"
    )
