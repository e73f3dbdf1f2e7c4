"""The one exception family the core raises for problems a user can act on."""


class SpeechLabError(Exception):
    """A problem with the user's input (file, folder, field, setting).

    The message names the file or field and says what to change.
    """


class AudioFileError(SpeechLabError):
    """An audio file could not be used (unreadable, empty, silent, not audio)."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class NoAudioDevice(SpeechLabError):
    """No usable input device (none present, unknown name, unplugged)."""


class Cancelled(SpeechLabError):
    """The user stopped a long operation."""
