"""Errors a user can cause. The CLI turns each into one line on stderr and exit code 2."""


class UserError(ValueError):
    """Bad input from a user: an unknown name, an ill-typed or impossible value, a missing file.

    The message is a complete sentence naming the problem and, where there are any, the valid choices.
    """


class ConfigError(UserError):
    """A configuration key is unknown, ill-typed or has an impossible value."""


class DivergedError(RuntimeError):
    """Training produced a non-finite loss; the run is recorded as ``diverged``."""

    def __init__(self, step: int, loss: float, hint: str = "a smaller train.lr"):
        super().__init__(f"training diverged at step {step} (loss {loss})")
        self.step = step
        self.loss = loss
        self.hint = hint  # what the user could change, for the one-line report
