"""Editing the failure taxonomy while a project runs: every change is a new version.

Every tag needs a description: reviewers read it to know when the tag applies.
Decisions record the version they were made under (`events.taxonomy_version`), so an old
decision keeps meaning what it meant when a tag is renamed or dropped later.
"""

from __future__ import annotations

import re

from curator.errors import CuratorError
from curator.store import Store

TAG = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class TaxonomyError(CuratorError):
    """A taxonomy that cannot be saved; one line saying which row and why."""


def save_version(store: Store, rows: list[tuple[str, str]]) -> int:
    """Store `rows` (tag, description) as the next version, unless they equal the current one;
    returns the version now in force."""
    tags, seen = [], set()
    for number, (tag, description) in enumerate(rows, 1):
        tag = (tag or "").strip()
        if not tag and not (description or "").strip():
            continue
        if not TAG.match(tag):
            raise TaxonomyError(
                f"row {number}: tag {tag!r} must be lower_snake_case "
                f"(a letter, then letters, digits, _; at most 40)"
            )
        if not (description or "").strip():
            raise TaxonomyError(f"row {number}: tag {tag!r} needs a description (when to use it)")
        if tag in seen:
            raise TaxonomyError(f"row {number}: tag {tag!r} appears twice")
        seen.add(tag)
        tags.append((tag, (description or "").strip()))
    if not tags:
        raise TaxonomyError("the taxonomy needs at least one tag")
    with store.transaction() as con:
        current = store.taxonomy_version()
        if [(t["tag"], t["description"]) for t in store.taxonomy(current)] == tags:
            return current
        con.executemany(
            "INSERT INTO taxonomy VALUES (?, ?, ?, now())", [(current + 1, t, d) for t, d in tags]
        )
        return current + 1
