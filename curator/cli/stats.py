"""`curator stats`: what the store holds and where the review stands."""

from __future__ import annotations

from curator.agreement import kappa_text
from curator.cli import add_db, add_json
from curator.stats import store_stats
from curator.store import Store


def register(sub) -> str:
    p = sub.add_parser("stats", help="counts of trajectories, review states and pairs; reviewer agreement")
    add_db(p)
    add_json(p)
    return "stats"


def run(args) -> dict:
    with Store(args.db, read_only=True) as store:
        return store_stats(store)


def human(s: dict) -> str:
    pairs = s["pairs"]
    return (
        f"{s['trajectories']} trajectories of {s['tasks']} tasks; "
        f"{s['pending']} pending, {s['accepted']} accepted, {s['edited']} edited, "
        f"{s['failed']} failed, {s['skipped']} skipped; {s['quarantined']} quarantined\n"
        f"pairs: {pairs['edit']} edit, {pairs['same_task']} same-task, "
        f"{pairs['compare']} compare\n"
        f"agreement (Cohen's kappa): {kappa_text(s['agreement'])}; "
        f"{s['agreement']['second_review_share']:.0%} of decided items go to a blind second reviewer"
    )
