"""`curator import PATH...`: read trajectory files into the store."""

from __future__ import annotations

import sys

from tqdm import tqdm

from curator.cli import add_db, add_json
from curator.importers import FAMILY_BY_NAME
from curator.ingest import import_file
from curator.store import Store


def register(sub) -> str:
    p = sub.add_parser("import", help="import trajectory files (format detected from content)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", *FAMILY_BY_NAME],
        help="source format (default: detected from the content)",
    )
    p.add_argument("--teacher", help="teacher model name for records that do not name one")
    add_db(p)
    add_json(p)
    return "import"


def run(args) -> dict:
    files = []
    with Store(args.db, keep_empty=False) as store:
        # No monitor thread: a large file is read by a forked second process (see ingest).
        tqdm.monitor_interval = 0
        bar = tqdm(args.paths, unit="file", disable=args.json or not sys.stderr.isatty())
        for path in bar:
            bar.set_postfix_str(path[-40:])
            files.append(import_file(store, path, args.format, args.teacher).to_dict())
    failures = [reason for f in files if (reason := failure(f))]
    for reason in failures:
        print(f"error: {reason}", file=sys.stderr)
    return {
        "imported": sum(f["imported"] for f in files),
        "duplicates": sum(f["duplicates"] for f in files),
        "quarantined": sum(f["quarantined"] for f in files),
        "files": files,
        **({"exit_code": 1} if failures else {}),
    }


def failure(f: dict) -> str | None:
    """Why a file given failed (exit 1): a file-level error, or not one trajectory read from it
    (every record quarantined). A file whose trajectories are all stored already did not fail."""
    for error in f["errors"]:
        if error["where"] == "file":
            return error["reason"]
    if f["imported"] or f["duplicates"]:
        return None
    first = f" (first: {f['errors'][0]['where']}: {f['errors'][0]['reason']})" if f["errors"] else ""
    return f"{f['path']}: nothing imported, {f['quarantined']} quarantined{first}"


def human(result: dict) -> str:
    lines = []
    for f in result["files"]:
        lines.append(
            f"{f['path']}: {f['format'] or '?'}: {f['imported']} imported, "
            f"{f['duplicates']} duplicates, {f['quarantined']} quarantined"
        )
        for e in f["errors"][:5]:
            lines.append(f"    {e['where']}: {e['reason']}")
        if len(f["errors"]) > 5:
            lines.append(f"    ... {len(f['errors']) - 5} more (see the quarantine table)")
    lines.append(
        f"total: {result['imported']} imported, {result['duplicates']} duplicates, "
        f"{result['quarantined']} quarantined"
    )
    return "\n".join(lines)
