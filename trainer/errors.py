"""The one exception the trainer shows to users, and the one rule for a full disk."""

import errno


class TrainerError(Exception):
    """A job failure with a one-line reason that says what and where (the CLI prints it, exit 1)."""


def disk_full_message(exc: OSError, where: str) -> str | None:
    """The one line for a full disk or quota (the one OS error a user can act on); None for any other."""
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    return f"disk full while writing {exc.filename or where}: {exc.strerror}"
