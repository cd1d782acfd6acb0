"""A result as JSON written in pieces: memory stays bounded however large its output is.

`RunResult.to_dict()` holds a run's whole output as text, and its base64 too when it is not
UTF-8; `json.dumps` of that holds a third copy, its escaped text (6 bytes for each byte that is
not UTF-8). For 20 MB of binary output that was ~17 times the output in memory (`orch run
--json`). Here the document is dumped with a `Streamed` marker where each output goes, and
each output is then decoded, escaped and written a chunk at a time. The text is exactly what
`json.dumps` of `to_dict()` gives: JSON escapes character by character, UTF-8 is decoded
incrementally (the same replacements as at once) and base64 is cut at multiples of 3 bytes.
"""

from __future__ import annotations

import base64
import codecs
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TextIO

from .config.suggest import did_you_mean
from .errors import ConfigError, OrchError, UnknownArgument
from .sinks.buffer import OutputBuffer

#: Where `write_json` writes: a file's path, or an open file (text, or binary: UTF-8 bytes).
JsonTarget = str | os.PathLike[str] | IO[str] | IO[bytes]

#: Bytes of output read, decoded and escaped at a time.
CHUNK = 1 << 18


@dataclass(frozen=True)
class Streamed:
    """A string value of the document that is produced in pieces by `pieces()`."""

    pieces: Callable[[], Iterator[str]]


def text_of(buffer: OutputBuffer) -> Streamed:
    """The buffer's bytes as text (UTF-8, undecodable bytes replaced), decoded chunk by chunk."""

    def pieces() -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        for chunk in buffer.iter_chunks(CHUNK):
            yield decoder.decode(chunk)
        yield decoder.decode(b"", final=True)

    return Streamed(pieces)


def base64_of(buffer: OutputBuffer) -> Streamed:
    """The buffer's bytes in base64, encoded chunk by chunk (3 bytes make 4 characters)."""

    def pieces() -> Iterator[str]:
        rest = b""
        for chunk in buffer.iter_chunks(CHUNK):
            data = rest + chunk
            cut = len(data) - len(data) % 3
            rest = data[cut:]
            yield base64.b64encode(data[:cut]).decode("ascii")
        yield base64.b64encode(rest).decode("ascii")

    return Streamed(pieces)


def is_utf8(buffer: OutputBuffer) -> bool:
    """Whether the buffer's bytes are all UTF-8 (read a chunk at a time)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        for chunk in buffer.iter_chunks(CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def dump(data: Any, out: TextIO, **kw: Any) -> None:
    """Write `data` as `json.dumps(data, **kw)` would, each `Streamed` value in pieces."""
    streamed: list[Streamed] = []
    token = f"orch-streamed-{os.urandom(16).hex()}-"
    default = kw.pop("default", None)

    def placeholder(value: object) -> Any:
        if not isinstance(value, Streamed):
            if default is not None:
                return default(value)
            raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
        streamed.append(value)
        return f"{token}{len(streamed) - 1}"

    skeleton = json.dumps(data, default=placeholder, **kw)  # small: no output in it
    ascii_only = kw.get("ensure_ascii", True)
    start = 0
    for mark in re.finditer(f'"{token}(\\d+)"', skeleton):
        out.write(skeleton[start:mark.start()] + '"')
        for piece in streamed[int(mark.group(1))].pieces():
            out.write(json.dumps(piece, ensure_ascii=ascii_only)[1:-1])
        out.write('"')
        start = mark.end()
    out.write(skeleton[start:])


#: What `json.dumps` takes besides the data (`cls` aside: the encoder is ours).
JSON_OPTIONS = ("skipkeys", "ensure_ascii", "check_circular", "allow_nan", "indent",
                "separators", "default", "sort_keys")


def write(data: Any, target: JsonTarget, **kw: Any) -> None:
    """`dump` into `target`: a path is written (UTF-8, replaced if it exists), an open text
    file takes the text, an open binary one its UTF-8 bytes; anything else is a ConfigError,
    as is an option `json.dumps` does not take (before any file is written)."""
    check_options(kw, "write_json")
    if isinstance(target, (str, os.PathLike)):
        try:
            out = open(target, "w", encoding="utf-8")  # closed by the `with` below
        except (OSError, ValueError) as exc:  # a folder, a missing one, no permission, a NUL
            raise ConfigError(f"write_json cannot write {os.fsdecode(target)!r}: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
        try:
            with out:  # its last bytes are written as it closes
                dump(data, out, **kw)
        except OSError as exc:
            raise _unwritten(os.fsdecode(target), exc) from None
        return
    if getattr(target, "closed", False) is True:
        raise ConfigError(f"write_json takes a file open for writing, not the closed file "
                          f"{getattr(target, 'name', '')!r}")
    if not callable(getattr(target, "write", None)) or \
            getattr(target, "writable", lambda: True)() is False:
        raise ConfigError(f"write_json takes a file path or a file open for writing, not "
                          f"{_what(target)}")
    mode = getattr(target, "mode", "")  # the caller's file: its OSError is the caller's
    if isinstance(target, (io.RawIOBase, io.BufferedIOBase)) or \
            isinstance(mode, str) and "b" in mode:
        dump(data, codecs.getwriter("utf-8")(target), **kw)  # type: ignore[arg-type]
    else:
        dump(data, target, **kw)  # type: ignore[arg-type]


def check_options(kw: dict[str, Any], called: str) -> None:
    """json.dumps's options, by name and value, checked before anything is written;
    `called`: the method the error names (json or write_json)."""
    for word in kw:
        if word not in JSON_OPTIONS:
            hint = did_you_mean(word, JSON_OPTIONS)
            raise UnknownArgument(f"{called}() takes json.dumps's options, not {word!r}"
                                  + (f" (did you mean {hint}=?)" if hint else ""))
    try:  # `indent=nan`, `separators=5`: json's own TypeError came from deep inside the dump
        json.dumps({"a": [1, "b"]}, **kw)
    except (TypeError, ValueError) as exc:
        given = ", ".join(f"{k}={v!r}" for k, v in kw.items())
        raise ConfigError(f"{called}() cannot use {given}: {exc}") from None


def _unwritten(name: str, exc: OSError) -> OrchError:
    """A write the file at a path given refused (a full disk), said as ours, naming it."""
    return OrchError(f"write_json could not write {name!r}: {exc.strerror or exc}")


def _what(target: object) -> str:
    """A target write_json refused, named: a file open for reading, or its type."""
    if callable(getattr(target, "writable", None)):
        return f"the file {getattr(target, 'name', '')!r}, open for reading only"
    return type(target).__name__
