"""Errors that harx reports to the user as one line, with a distinct exit code per kind."""


class HarxError(Exception):
    """A user-facing failure: the message names the file or field and what is wrong."""

    exit_code = 1


class DataError(HarxError):
    """A dataset archive, cache entry or import file is missing, corrupt or malformed."""

    exit_code = 3


class ConfigError(HarxError):
    """A recipe, genome or command-line value is invalid."""

    exit_code = 4


class SettingError(ConfigError):
    """A ConfigError about one named setting; ``key`` and ``problem`` let a caller that knows where the
    setting came from (a recipe file and its key path) say so."""

    def __init__(self, kind: str, key: str, problem: str) -> None:
        super().__init__(f"{kind} '{key}' {problem}")
        self.kind, self.key, self.problem = kind, key, problem

    def __reduce__(self):
        return (type(self), (self.kind, self.key, self.problem))


class StoreError(HarxError):
    """The candidate store cannot be opened or is from an incompatible version."""

    exit_code = 5


class ToolchainError(HarxError):
    """A compiler, simulator or generated program failed."""

    exit_code = 6
