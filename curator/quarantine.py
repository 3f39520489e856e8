"""Reading the quarantine: the records an import could not store, where they were and why
(`ingest` writes them; the app's Import tab lists them)."""

from __future__ import annotations

from curator.store import Store


def quarantined(store: Store, source_file: str | None = None, limit: int = 500) -> list[tuple]:
    """Quarantined records, newest first: id, file, where, why, and the start of their raw text."""
    where = "WHERE source_file = ?" if source_file else ""
    return store.con.execute(
        f"""SELECT q_id, source_file, location, reason, left(raw, 300) FROM quarantine {where}
            ORDER BY q_id DESC LIMIT ?""",
        [*([source_file] if source_file else []), limit],
    ).fetchall()


def quarantined_files(store: Store) -> list[str]:
    """The files that have quarantined records, by name."""
    return store.column("SELECT DISTINCT source_file FROM quarantine ORDER BY 1")
