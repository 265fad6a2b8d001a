"""What every decoder shares: the :class:`Decoder` interface, the counters,
the deferred error, and ``select``.

What the caller may rely on, for every framing:

- The items never depend on where the chunk boundaries fell.
- Every item before a bad one (malformed, oversized) is delivered before the
  :class:`StreamDecodeError` for it: a call that has items to return returns
  them and the next call raises; a call with nothing to return raises at once.
- ``finished`` becomes true when the stop marker is met: stop reading, later
  data is ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from utcp_http_stream.decoders.pointer import MISSING, Pointer
from utcp_http_stream.errors import StreamDecodeError

__all__ = ["DEFAULT_MAX_ITEM_BYTES", "MALFORMED_HINT", "ON_MALFORMED", "Decoder", "ItemDecoder"]

#: The default ``max_item_bytes``: the largest line, event or document accepted.
DEFAULT_MAX_ITEM_BYTES = 8 * 1024 * 1024

#: The ``on_malformed`` choices.
ON_MALFORMED: tuple[str, ...] = ("error", "skip", "raw")

#: The advice every "not valid JSON/text" message ends with.
MALFORMED_HINT = "set on_malformed to 'skip' or 'raw' in the call template"


class Decoder(Protocol):
    """The interface of every decoder :func:`build_decoder` returns."""

    #: True once the stop marker was seen: the caller stops reading.
    finished: bool
    #: Items produced so far (after ``select`` and skipping).
    items: int
    #: Items decoded but not produced because ``select`` named nothing in them.
    skipped: int

    def feed(self, data: bytes) -> list[Any]:
        """Items completed by ``data``, in order."""
        ...

    def close(self) -> list[Any]:
        """End of stream: the remaining items; may raise :class:`StreamDecodeError`."""
        ...


def stop_bytes(stop_marker: str | None) -> bytes | None:
    """A JSON framing's stop marker as the bytes a record or line is compared
    with (surrounding whitespace ignored); None for no marker."""
    stop = (stop_marker or "").strip()
    return stop.encode("utf-8") if stop else None


class ItemDecoder:
    """Base class of the decoders: the counters, the deferred error, ``select``."""

    __slots__ = ("_error", "finished", "items", "malformed", "skipped")

    def __init__(self) -> None:
        self.finished = False
        self.items = 0
        self.skipped = 0
        #: Malformed lines/events dropped (``skip``) or passed through (``raw``).
        self.malformed = 0
        # An error met after some items of the same call: raised by the next call.
        self._error: StreamDecodeError | None = None

    def _halted(self) -> list[Any]:
        """What ``feed`` answers once the stream failed (raise) or finished (nothing)."""
        if self._error is not None:
            raise self._error
        return []

    def _settle(
        self, pieces: list[Any], source_error: StreamDecodeError | None, emit: Callable[..., list[Any]], *args: Any
    ) -> list[Any]:
        """The shared tail of ``feed``: turn the pieces a splitter or parser
        completed into items with ``emit(pieces, *args)``, and take over the
        splitter's error (an oversized line or event) so it is raised once the
        items before it are delivered."""
        if not pieces:  # the common case for small pieces of a long line or event
            if source_error is not None:
                self._error = source_error
                raise source_error
            return []
        out = emit(pieces, *args)
        if source_error is not None and not self.finished and self._error is None:
            self._error = source_error
        return self._deliver(out)

    def _deliver(self, out: list[Any]) -> list[Any]:
        if self._error is not None and not out:
            raise self._error
        self.items += len(out)
        return out

    def _on_malformed(self, out: list[Any], raw: Any, error: StreamDecodeError) -> bool:
        """Apply ``on_malformed`` to one bad line or event: ``skip`` drops it,
        ``raw`` appends ``raw`` to ``out``, ``error`` records the error (raised
        once the items before it are delivered). True: go on with the next."""
        if self._mode == "error":  # type: ignore[attr-defined]  # set by each subclass
            self._error = error
            return False
        self.malformed += 1
        if self._mode == "raw":  # type: ignore[attr-defined]
            out.append(raw)
        return True

    def _keep(self, out: list[Any], pointer: Pointer | None, value: Any) -> None:
        """Append ``value`` (or what ``select`` names in it) to ``out``; a value
        the pointer names nothing in is counted as skipped."""
        if pointer is not None:
            value = pointer.resolve(value)
            if value is MISSING:
                self.skipped += 1
                return
        out.append(value)

    def _select(self, pointer: Pointer, values: list[Any]) -> list[Any]:
        resolve = pointer.resolve
        picked = [resolve(value) for value in values]
        out = [value for value in picked if value is not MISSING]
        self.skipped += len(picked) - len(out)
        return out
