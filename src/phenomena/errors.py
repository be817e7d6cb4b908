"""Errors a user can cause. The CLI turns each into one line on stderr and exit code 2."""


class UserError(ValueError):
    """Bad input from a user: an unknown name, an ill-typed or impossible value, a missing file.

    The message is a complete sentence naming the problem and, where there are any, the valid choices.
    """


class ConfigError(UserError):
    """A configuration key is unknown, ill-typed or has an impossible value.

    ``key`` is the field the message starts with, where the error is about one field's value; a config section
    that catches it re-raises :meth:`within` its own name, so the message names the full dotted key.
    """

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key

    def within(self, section: str) -> "ConfigError":
        """The same error one section up: ``lr must be positive`` becomes ``train.lr must be positive``."""
        if self.key is None or not str(self).startswith(self.key):
            return self
        return ConfigError(f"{section}.{self}", key=f"{section}.{self.key}")


class DivergedError(RuntimeError):
    """Training produced a non-finite loss; the run is recorded as ``diverged``."""

    def __init__(self, step: int, loss: float, hint: str = "a smaller train.lr"):
        super().__init__(f"training diverged at step {step} (loss {loss})")
        self.step = step
        self.loss = loss
        self.hint = hint  # what the user could change, for the one-line report
        self.run_id: str | None = None  # the diverged run's id, set by the runner that recorded it


class StoreError(UserError):
    """The store cannot be used: its home is a file or cannot be created or written, or its database is damaged.

    The message names the path and what to do; the CLI prints it as one line (exit code 2).
    """
