"""Exception classes raised by deepaw-nb.

Every error a user can trigger with bad input is a :class:`DeepawError` whose message is a
single line that names the problem and the fix.  Notebook and CLI front ends catch
``DeepawError`` and show only its message, never a traceback.
"""

from __future__ import annotations


class DeepawError(Exception):
    """Base class of every deliberate, user-facing deepaw-nb error."""


class InputFileError(DeepawError):
    """A file is missing, empty, unreadable, or in a format we cannot parse."""


class StructureError(DeepawError):
    """A structure is not usable: non-periodic, zero volume, NaN coordinates, overlapping atoms."""


class GridError(DeepawError):
    """A requested grid is invalid (non-positive dimension) or too large for the memory budget."""


class CheckpointError(DeepawError):
    """A checkpoint cannot be loaded or does not fit the model architecture."""


class UnsupportedElementError(DeepawError):
    """The structure contains an element the model was not trained on."""


class DeviceError(DeepawError):
    """A requested device, precision or backend is not available."""


class OutputError(DeepawError):
    """A result cannot be written where the user asked (exists, bad directory, unsafe name)."""
