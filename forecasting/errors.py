"""The one error type users see for problems in their data."""


class DataError(ValueError):
    """A problem in the user's data: the message names the file, column and rows, and the fix."""


class ModelFileError(ValueError):
    """A saved model that cannot be loaded: missing, from another version, or changed on disk."""
