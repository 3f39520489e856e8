"""Importing files a browser uploaded: keep each upload beside the store, then import it with the
same `ingest.import_file` as `curator import` (the app is the store's only writer meanwhile).

An upload is first copied out of Gradio's temporary folder into `<store>.uploads/`, so the
provenance the store records (`source_file`) names a file that still exists later.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from curator.ingest import FileSummary, import_file
from curator.store import Store


def upload_dir(store: Store) -> Path:
    return store.path.with_name(store.path.name + ".uploads")


def keep_upload(store: Store, temp_path: str) -> Path:
    """Copy an uploaded file next to the store under its own name (a new name if one is
    taken by different content)."""
    src = Path(temp_path)
    folder = upload_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / src.name
    n = 1
    while target.exists() and target.read_bytes() != src.read_bytes():
        target = folder / f"{src.stem}-{n}{src.suffix}"
        n += 1
    if not target.exists():
        shutil.copyfile(src, target)
    return target


def import_uploads(
    store: Store,
    paths: list[str],
    fmt: str = "auto",
    teacher: str | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> list[FileSummary]:
    summaries = []
    for i, path in enumerate(paths):
        kept = keep_upload(store, path)
        if progress:
            progress(i / len(paths), f"importing {kept.name}")
        summaries.append(import_file(store, str(kept), fmt, teacher or None))
    return summaries
