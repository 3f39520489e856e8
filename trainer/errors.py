"""The one exception the trainer shows to users."""


class TrainerError(Exception):
    """A job failure with a one-line reason that says what and where (the CLI prints it, exit 1)."""
