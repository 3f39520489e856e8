"""The one error base of the library: every error a user can act on is a `CuratorError`.

The CLI turns any of them into one line on stderr and exit 1; the app shows its text. The trainer
keeps its own base beside this one (`trainer.errors.TrainerError`), since it never imports the store.
"""

from __future__ import annotations


class CuratorError(Exception):
    """A failure the user can act on; its text is one line that says what and where."""


class JobError(CuratorError):
    """A command's job failed (bad option value, missing file, refused action)."""
