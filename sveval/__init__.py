"""sveval: speaker-verification evaluation, exact to the printed digit and fast."""

__version__ = "0.1.0"
