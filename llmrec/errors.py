"""One error type for everything a user can fix: the CLI prints it as one line and exits 2."""


class LLMRecError(Exception):
    """Bad input or configuration. The message names the file/line/option and what was expected."""


def where(path, line: int | None = None) -> str:
    """'file' or 'file:line' for error messages."""
    return f"{path}:{line}" if line is not None else str(path)


class SampleFailed(LLMRecError):
    """One sample's requests kept failing after every retry (server errors, timeouts, malformed answers): the
    sample is recorded as failed, never as an answer, the run goes on, and a re-run retries only such samples."""


def shown(value) -> str:
    """A value as an error message shows it: its repr, cut short (a YAML alias bomb never expands in full)."""
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 2, 4, 4, 40, 40
    return short.repr(value)
