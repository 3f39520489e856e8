"""The one exception the trainer shows to users, the one rule for a full disk, and the checks of
the data and adapter folders a command names, which run before any heavy import."""

import errno
from pathlib import Path


class TrainerError(Exception):
    """A job failure with a one-line reason that says what and where (the CLI prints it, exit 1)."""


def disk_full_message(exc: OSError, where: str) -> str | None:
    """The one line for a full disk or quota (the one OS error a user can act on); None for any other."""
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    return f"disk full while writing {exc.filename or where}: {exc.strerror}"


def require_adapter(path) -> None:
    """An adapter folder that is missing, or is not one, is said at once (before torch loads)."""
    if not Path(path).is_dir():
        raise TrainerError(f"adapter folder {path} does not exist")
    if not (Path(path) / "adapter_config.json").is_file():
        raise TrainerError(f"{path} is not an adapter folder (no adapter_config.json)")


def require_data_folder(path) -> None:
    """A missing export folder is said at once: this module imports nothing heavy, so a typo in
    `--data` fails before torch and TRL load."""
    if not Path(path).is_dir():
        raise TrainerError(f"data folder {path} does not exist (make one with `curator export --out DIR`)")
