"""Which trajectories a command takes: `ExportFilters`, how a user writes them, and the SQL they become.

One parser and one SQL builder, shared by `curator export`, `curator bulk`, the pair builders
(`curator.pairs`), the exporter and the app's Export tab, so that a preview, the CLI and the
files written all count the same rows and read a date the same way.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from curator.errors import CuratorError


class FilterError(CuratorError):
    """A filter the user wrote cannot be read; one line naming the filter."""


@dataclass(frozen=True)
class ExportFilters:
    """Restrictions on what an export takes; a field left at None (or empty) restricts nothing.

    - `source_file`: glob over the imported file's path, as `curator bulk --file` (a plain path
      matches itself).
    - `source_format`: the importer format name (`openai_chat`, `react`, ...).
    - `teacher`: the teacher model's name.
    - `reviewer`: who made the standing decision (for compare pairs: who compared).
    - `since` / `until`: when that decision was made; `since` inclusive, `until` exclusive (a
      bare date written by a user becomes the next midnight: see `parse_when`).
    - `tags`: failures carrying at least one of these tags. Accepted trajectories have no tags
      and are not affected, so "export the loop failures" still keeps the SFT rows.
    - `traj_ids`: only these trajectories (`curator select` chose them); a pair needs both sides.
    - `source_label`: the label the source file gave (`success`, `failure`); `task_keys`: only
      these tasks (None: all). `curator bulk` uses these two.
    """

    source_file: str | None = None
    source_format: str | None = None
    teacher: str | None = None
    reviewer: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    traj_ids: tuple[int, ...] = field(default_factory=tuple)
    source_label: str | None = None
    task_keys: tuple[str, ...] | None = None

    def to_dict(self) -> dict:
        """The filters as the manifest records them (only those set)."""
        out = {}
        for key, value in self.__dict__.items():
            if value in (None, (), []):
                continue
            out[key] = (
                value.isoformat()
                if isinstance(value, datetime)
                else (list(value) if isinstance(value, tuple) else value)
            )
        return out


def parse_when(text: str, *, end: bool = False, name: str = "date") -> datetime:
    """A user's date or time (`2025-01-31`, `2025-01-31T14:00`). A bare date as an end (`--until`,
    the app's "decided until") includes that whole day: it becomes the next midnight, exclusive."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise FilterError(
            f"{name}: {text!r} is not a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM)"
        ) from None
    return value + timedelta(days=1) if end and len(text.strip()) == 10 else value


def from_text(
    *,
    file: str | None = None,
    source_format: str | None = None,
    teacher: str | None = None,
    reviewer: str | None = None,
    since: str | None = None,
    until: str | None = None,
    tags=(),
) -> ExportFilters:
    """Filters as a user types them (CLI options, the app's form): empty means no restriction."""

    def text(value):
        return (value or "").strip() or None

    return ExportFilters(
        source_file=text(file),
        source_format=text(source_format),
        teacher=text(teacher),
        reviewer=text(reviewer),
        since=parse_when(since, name="since") if text(since) else None,
        until=parse_when(until, end=True, name="until") if text(until) else None,
        tags=tuple(tags or ()),
    )


def matching_files(con, pattern: str) -> list[str]:
    """Imported files whose path matches a glob (a plain path matches itself): the one rule for
    `--file` in `curator bulk`, `curator export` and the app."""
    return [
        f
        for (f,) in con.execute("SELECT DISTINCT source_file FROM trajectories").fetchall()
        if f == pattern or fnmatch.fnmatch(f, pattern)
    ]


def trajectory_where(con, filters: ExportFilters, alias: str = "t") -> tuple[str, list]:
    """SQL condition (and parameters) on the `trajectories` row `alias`: file, format, teacher,
    ids, label, task."""
    where, params = ["TRUE"], []
    if filters.source_file:
        where.append(f"list_contains(?, {alias}.source_file)")
        params.append(matching_files(con, filters.source_file))
    if filters.source_format:
        where.append(f"{alias}.source_format = ?")
        params.append(filters.source_format)
    if filters.teacher:
        where.append(f"{alias}.teacher = ?")
        params.append(filters.teacher)
    if filters.traj_ids:
        where.append(f"list_contains(?, {alias}.traj_id)")
        params.append(list(filters.traj_ids))
    if filters.source_label:
        where.append(f"{alias}.source_label = ?")
        params.append(filters.source_label)
    if filters.task_keys is not None:
        where.append(f"{alias}.task_key IN (SELECT unnest(?))")  # a semi-join: not a scan of the list per row
        params.append(list(filters.task_keys))
    return " AND ".join(where), params


def decision_where(filters: ExportFilters, reviewer: str, at: str) -> tuple[str, list]:
    """SQL condition on a decision's reviewer column and time column (reviewer, date range)."""
    where, params = ["TRUE"], []
    if filters.reviewer:
        where.append(f"{reviewer} = ?")
        params.append(filters.reviewer)
    if filters.since:
        where.append(f"{at} >= ?")
        params.append(filters.since)
    if filters.until:
        where.append(f"{at} < ?")
        params.append(filters.until)
    return " AND ".join(where), params


def selected_sql(con, filters: ExportFilters, statuses: tuple[str, ...]) -> tuple[str, list]:
    """A query of the selected trajectories in `statuses` with their current revision and the
    decision that stands: traj_id, task_key, task_hash, rev_id, rev_number, turn_keys, messages,
    event_id, reviewer, tags, first_step, taxonomy_version (the last three of `fail`
    events), and edit_event / editor: the edit that made the current revision, if one did.

    The tag filter applies to failed trajectories only (see `ExportFilters`)."""
    t_sql, t_params = trajectory_where(con, filters)
    d_sql, d_params = decision_where(filters, "s.reviewer", "s.decided_at")
    tag_sql, tag_params = "TRUE", []
    if filters.tags:
        tag_sql = "(s.status <> 'failed' OR list_has_any(e.tags, ?))"
        tag_params = [list(filters.tags)]
    sql = f"""
        SELECT t.traj_id, t.task_key, t.task_hash, s.rev_id, r.number AS rev_number,
               r.turn_keys, r.messages, s.event_id, s.reviewer, e.tags,
               e.first_step, e.taxonomy_version, ed.event_id AS edit_event, ed.reviewer AS editor
        FROM trajectories t JOIN state s USING (traj_id)
        JOIN revisions r ON r.rev_id = s.rev_id
        LEFT JOIN events e ON e.event_id = s.event_id
        LEFT JOIN events ed ON ed.rev_id = s.rev_id AND ed.kind = 'edit'
        WHERE list_contains(?, s.status) AND {t_sql} AND {d_sql} AND {tag_sql}"""
    return sql, [list(statuses), *t_params, *d_params, *tag_params]
