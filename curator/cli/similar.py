"""`curator similar`: near-duplicate clusters and the reviews skipping them would save (SPEC 12)."""

from __future__ import annotations

from curator.cli import add_db, add_json
from curator.similarity import DEFAULT_THRESHOLD, summary
from curator.store import Store


def register(sub) -> str:
    p = sub.add_parser("similar", help="near-duplicate clusters (embeddings computed where missing)")
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"cosine both instructions and answers must reach (default {DEFAULT_THRESHOLD})",
    )
    add_db(p)
    add_json(p)
    return "similar"


def run(args) -> dict:
    # writable: missing embeddings are computed and kept
    Store(args.db, read_only=True).close()  # a missing store is an error, never created here
    with Store(args.db) as store:
        return summary(store, args.threshold)


def human(r: dict) -> str:
    lines = [
        (
            f"{r['clusters']} near-duplicate clusters hold {r['in_clusters']} of {r['trajectories']} "
            f"trajectories (threshold {r['threshold']}); skipping near-duplicates of decided items "
            f"would save {r['review_would_save']} pending reviews"
        )
    ]
    for c in r["members"][:20]:
        statuses = ", ".join(f"{n} {s}" for s, n in c["statuses"].items())
        ids = " ".join(str(m["traj_id"]) for m in c["members"][:12])
        lines.append(f"  #{c['cluster']} ({statuses}) {c['tool_sequence'] or '(no tool call)'}: {ids}")
    return "\n".join(lines)
