"""Exceptions raised by bytepiece: one base class, a subclass per kind of bad input."""


class BytePieceError(Exception):
    """Base class of every error bytepiece raises on purpose."""


class ModelError(BytePieceError, ValueError):
    """A model file or pieces dict is malformed; the message names the file and the first problem."""


class InputError(BytePieceError, ValueError):
    """Text, ids or options given to bytepiece are invalid."""


class MemoryLimitError(BytePieceError, MemoryError):
    """A run stopped because it would have gone over its memory budget.

    Training no longer raises it (its tables spill to disk instead); kept so that
    code catching it still imports."""
