"""Where the files that ship inside the package lie (sample set, default taxonomy).

Found through `importlib.resources`, so a wheel install finds them as an editable one does.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

ASSETS = Path(str(files("curator") / "assets"))
SAMPLE_DIR = ASSETS / "sample"
SAMPLE_TRAJECTORIES = SAMPLE_DIR / "trajectories.jsonl"
TAXONOMY_FILE = ASSETS / "taxonomy.json"
SQL_DIR = ASSETS / "sql"
SQL_TRAJECTORIES = SQL_DIR / "trajectories.jsonl"
# the teacher-style sample set of each built-in environment
SAMPLE_SETS = {"sample": SAMPLE_TRAJECTORIES, "sql": SQL_TRAJECTORIES}
