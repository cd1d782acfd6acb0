"""One line rule for every sink: the same inputs give the same lines everywhere.

Filters, the live display, the ring buffer of named runs, the captured buffer (in memory and
spilled to disk) and `RunResult.lines` of a real process are fed the same byte streams: CRLF,
lone CR, UTF-8 split across chunks, invalid UTF-8, no trailing newline, empty lines, long lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orch_magics import Orchestrator, load_config_text
from orch_magics.config.model import GrepFilter, HeadFilter, JqFilter, ReplaceFilter, TailFilter
from orch_magics.process.events import Exit, Stderr, Stdout
from orch_magics.sinks.buffer import OutputBuffer
from orch_magics.sinks.cell_view import MAX_LINE
from orch_magics.sinks.display import DisplaySink
from orch_magics.sinks.filters import FilterChain
from orch_magics.sinks.lines import MAX_PARTIAL, CutLine, LineDecoder, terminal_view
from orch_magics.sinks.ring import RingBuffer


def bytewise(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


UTF8 = "naïve ✓ 日本語 🎉\n".encode()

#: name → (chunks as they arrive, the lines every consumer must see)
CASES: dict[str, tuple[list[bytes], list[str]]] = {
    "crlf": ([b"ERROR\r\nok\r\n"], ["ERROR", "ok"]),
    "crlf-split": ([b"ERROR\r", b"\nnext\r", b"\n"], ["ERROR", "next"]),
    "lone-cr": ([b"50%\r100%\n", b"a\rb\r\r\n"], ["50%\r100%", "a\rb\r"]),
    "cr-at-end": ([b"done\n10%\r"], ["done", "10%\r"]),
    "cr-then-crlf-split": ([b"x\r", b"\r\nfoo\r\n"], ["x\r", "foo"]),
    "utf8-split": (bytewise(UTF8 * 3), ["naïve ✓ 日本語 🎉"] * 3),
    "invalid-utf8": ([b"bad \xff\xfe end\n\xe2\x82\n", b"x\xe2", b"\x82y\n"],
                     ["bad \ufffd\ufffd end", "\ufffd", "x\ufffdy"]),
    "no-trailing-newline": ([b"a\nb"], ["a", "b"]),
    "empty-lines": ([b"\n\n", b"\na\n\n"], ["", "", "", "a", ""]),
    "only-newline": ([b"\n"], [""]),
    "nothing": ([], []),
    "long-line": ([b"y" * 65536] * 40 + [b"\r\nshort\n"], ["y" * 65536 * 40, "short"]),
    # a long line inside one read, and one begun in a read and ended in a large one (named
    # finding: the bounded sinks kept up to a whole read of such a line, 312 K of 1 M)
    "long-in-a-chunk": ([b"y" * 300_000 + b"\nshort\n"], ["y" * 300_000, "short"]),
    "long-across-chunks": ([b"y" * 100_000, b"y" * 900_000 + b"\r\nshort\n"],
                           ["y" * 1_000_000, "short"]),
}
LONG = ("long-line", "long-in-a-chunk", "long-across-chunks")


def from_decoder(chunks: list[bytes]) -> list[str]:
    decoder = LineDecoder()
    lines = [line for chunk in chunks for line in decoder.feed(chunk)]
    return lines + decoder.feed(b"", final=True)


def from_filters(chunks: list[bytes]) -> list[str]:
    chain = FilterChain([GrepFilter(pattern="")])  # lets every line through
    events = [e for chunk in chunks for e in chain(Stdout(chunk))] + chain(Exit(code=0))
    text = b"".join(e.data for e in events if isinstance(e, Stdout)).decode()
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def from_display(chunks: list[bytes]) -> list[str]:
    sink = DisplaySink(environment="e", layers="local", what="w", tail=1000)
    for chunk in chunks:
        sink.feed(Stdout(chunk))
    sink.close()
    lines = [line for stream, line in sink.snapshot().lines if stream == "stdout"]
    assert sink.line_counts["stdout"] == len(lines)
    return lines


def from_ring(chunks: list[bytes]) -> list[str]:
    ring = RingBuffer()
    for chunk in chunks:
        ring.feed(Stdout(chunk))
        ring.feed(Stderr(b"err\r\n"))  # the other stream does not disturb this one
    ring.close()
    assert ring.tail(streams=("stderr",)) == ["err"] * len(chunks)
    lines = ring.tail(streams=("stdout",))
    assert ring.total_lines == len(lines) + len(chunks)
    return lines


def buffer_lines(threshold: int) -> Callable[[list[bytes]], list[str]]:
    def lines(chunks: list[bytes]) -> list[str]:
        buf = OutputBuffer(threshold=threshold)
        for chunk in chunks:
            buf.write(chunk)
        assert buf.spilled is (threshold == 8 and buf.size > 8)
        found = list(buf.iter_lines())
        assert buf.line_count == len(found)
        return found

    return lines


CONSUMERS: dict[str, Callable[[list[bytes]], list[str]]] = {
    "decoder": from_decoder,
    "filters": from_filters,
    "display": from_display,
    "ring": from_ring,
    "buffer-memory": buffer_lines(1 << 30),
    "buffer-spilled": buffer_lines(8),
}
BOUNDED = {"display", "ring"}  # keep the start and end of a line longer than they hold


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("consumer", CONSUMERS)
def test_every_consumer_sees_the_same_lines(consumer: str, case: str) -> None:
    chunks, expected = CASES[case]
    got = CONSUMERS[consumer](chunks)
    if consumer in BOUNDED and case in LONG:
        assert len(got) == 2 and got[1] == "short"
        if consumer == "display":  # a CutLine: it knows how long the line was
            assert isinstance(got[0], CutLine) and set(got[0]) == {"y"}
            kept, dropped = len(got[0]), got[0].dropped
        else:  # `logs` text says where characters are missing
            found = re.fullmatch(r"(y+) … \((\d+) chars not kept\) … (y+)", got[0])
            assert found is not None and len(found[1]) == MAX_PARTIAL // 2
            kept, dropped = len(found[1]) + len(found[3]), int(found[2])
        assert kept == MAX_PARTIAL and kept + dropped == len(expected[0])
        return
    assert got == expected


@pytest.fixture(scope="module")
def orch() -> Orchestrator:
    o = Orchestrator(load_config_text("environments:\n  local: {layers: []}\n"))
    yield o
    o.close()


@pytest.mark.parametrize("case", [c for c in CASES if c not in LONG])
def test_result_lines_of_a_real_process(orch: Orchestrator, case: str) -> None:
    chunks, expected = CASES[case]
    res = orch.run("local", command=["cat"], stdin=b"".join(chunks))
    assert res.lines == expected
    assert list(res.iter_lines()) == expected
    assert f"({len(expected)} line{'' if len(expected) == 1 else 's'})" in repr(res)


FILTER_CONFIG = """\
environments:
  local: {layers: []}
services:
  crlf:
    command: printf 'INFO ok\\r\\ndisk ERROR\\r\\n{"level":"ERROR"}\\r\\nlast ERROR'
    filters: [@FILTERS@]
"""


@pytest.mark.parametrize(("filters", "expected"), [
    ("{type: grep, pattern: 'ERROR$'}", "disk ERROR\nlast ERROR"),
    ("{type: grep, pattern: 'ok$', invert: true}", 'disk ERROR\n{"level":"ERROR"}\nlast ERROR'),
    ("{type: replace, pattern: '(\\w+)$', replacement: '<\\1>'}",
     'INFO <ok>\ndisk <ERROR>\n{"level":"ERROR"}\nlast <ERROR>'),
    ("{type: jq, query: .level, on_invalid: drop}", "ERROR\n"),
    ("{type: tail, lines: 2}", '{"level":"ERROR"}\nlast ERROR'),
    ("{type: head, lines: 1}", "INFO ok\n"),
])
def test_filters_see_crlf_lines_as_result_lines_do(filters: str, expected: str) -> None:
    """`ERROR$` matches `ERROR\\r\\n`: a filter sees the line `RunResult.lines` shows."""
    orch = Orchestrator(load_config_text(FILTER_CONFIG.replace("@FILTERS@", filters)))
    try:
        res = orch.run("local", "crlf")
    finally:
        orch.close()
    assert res.ok, res.describe_failure()
    assert res.stdout == expected
    assert res.raw_stdout.count("\r\n") == 3  # the unfiltered output keeps its endings


@pytest.mark.parametrize("spec", [
    GrepFilter(pattern="^b$"), ReplaceFilter(pattern="$", replacement="!"),
    JqFilter(query=".", on_invalid="pass"), HeadFilter(lines=5), TailFilter(lines=5)])
def test_filter_lines_never_end_in_cr(spec: object) -> None:
    chain = FilterChain([spec])  # type: ignore[list-item]
    out = chain(Stdout(b"a\r\nb\r")) + chain(Stdout(b"\nc\r\n")) + chain(Exit(code=0))
    text = b"".join(e.data for e in out if isinstance(e, Stdout)).decode()
    assert "\r" not in text


def test_display_counts_lines_past_its_tail_without_keeping_them() -> None:
    sink = DisplaySink(environment="e", layers="local", what="w", tail=3)
    sink.feed(Stdout(b"".join(b"line %d\r\n" % i for i in range(1000))))
    sink.feed(Stdout(b"partial"))
    sink.close()
    snap = sink.snapshot()
    assert [line for _, line in snap.lines] == ["line 998", "line 999", "partial"]
    assert sink.line_counts["stdout"] == 1001 and snap.hidden == 998


@pytest.mark.parametrize("size", [MAX_LINE + 1, 100_000, 1_000_000, 20_000_000])
@pytest.mark.parametrize("chunk", [4096, 65536, 1 << 20])
def test_a_long_line_shows_its_start_and_how_many_characters_follow(size: int,
                                                                    chunk: int) -> None:
    """However long the line and however it arrives, the cell shows its first MAX_LINE
    characters and the true count of the rest: growing, and once it has ended."""
    line = ("0123456789" * (size // 10 + 1))[:size].encode()
    note = f"{line[:MAX_LINE].decode()} … (+{size - MAX_LINE} chars)"
    sink = DisplaySink(environment="e", layers="local", what="w", tail=5)
    for i in range(0, size, chunk):
        sink.feed(Stdout(line[i:i + chunk]))
    assert sink.render()["text/plain"].splitlines()[0] == note  # still being written
    sink.feed(Stdout(b"\nshort\n"))
    sink.close()
    assert sink.render()["text/plain"].splitlines()[:2] == [note, "short"]


def test_a_real_process_line_of_a_million_characters_is_counted_right(
        orch: Orchestrator) -> None:
    """`head -c 1000000 /dev/zero | tr '\\0' y; echo` through a real pipe into the display."""
    sink = DisplaySink(environment="e", layers="local", what="w", tail=5)
    res = orch.run("local", command="head -c 1000000 /dev/zero | tr '\\0' y; echo",
                   sinks=[sink])
    assert res.lines == ["y" * 1_000_000]  # the result keeps it whole
    assert sink.render()["text/plain"].splitlines()[0] == "y" * MAX_LINE + " … (+998000 chars)"


BAR = "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); printf '\\rprogress %d/30000' $i; done"


@pytest.mark.parametrize("ending", ["; echo", ""])
def test_a_long_progress_bar_shows_its_last_state_in_the_cell_and_in_logs(
        orch: Orchestrator, ending: str) -> None:
    """browser25: 30,000 `\\r` frames (600 KB, a tqdm or curl bar of a few minutes) were kept
    as their start and end, and viewed joined: the start's last frame and the end's first ran
    together into one longer than any, and the cell read `progress 30000/3000000`; `logs`
    put its note among the frames, where the next frame overwrote half of it."""
    sink = DisplaySink(environment="e", layers="local", what="w", tail=5)
    res = orch.run("local", command=BAR + ending, sinks=[sink])
    assert res.lines[-1].endswith("progress 30000/30000")  # the result keeps it whole
    assert sink.render()["text/plain"].splitlines()[0] == "progress 30000/30000"
    ring = RingBuffer()
    for chunk in range(0, len(res.stdout_bytes), 4096):
        ring.feed(Stdout(res.stdout_bytes[chunk:chunk + 4096]))
    ring.close()
    assert re.fullmatch(r"… \(\d+ chars not kept\) … progress 30000/30000", ring.tail(1)[0]), \
        ring.tail(1)[0][:200]


@pytest.mark.parametrize("frames", ["", "printf '\\r'; head -c 150000 /dev/zero | tr '\\0' z; "])
def test_a_long_line_rewritten_by_a_short_frame_is_as_wide_as_before(
        orch: Orchestrator, frames: str) -> None:
    """browser25: a terminal shows `Y` and then the 199,999 characters it did not overwrite;
    the cell said `(+30766 chars)`, the width of the end its decoder kept."""
    sink = DisplaySink(environment="e", layers="local", what="w", tail=5)
    res = orch.run("local", command="head -c 200000 /dev/zero | tr '\\0' x; " + frames
                   + "printf '\\rY'; echo", sinks=[sink])
    assert len(terminal_view(res.lines[0])) == 200_000
    above = "z" if frames else "x"
    assert sink.render()["text/plain"].splitlines()[0] == \
        "Y" + above * (MAX_LINE - 1) + " … (+198000 chars)"
    ring = RingBuffer()
    ring.feed(Stdout(res.stdout_bytes))
    ring.close()
    assert re.fullmatch(rf"Y{above}+ … \(\d+ chars not kept\)", ring.tail(1)[0]), \
        ring.tail(1)[0][-100:]


def test_terminal_view_overwrites_from_the_start_of_the_line() -> None:
    assert terminal_view("50%\r100%") == "100%"
    assert terminal_view("abcdef\rXY") == "XYcdef"
    assert terminal_view("10%\r") == "10%"
    assert terminal_view("plain") == "plain"


def test_decoding_never_splits_a_multibyte_character() -> None:
    text = "naïve ✓ 日本語 🎉" * 50
    decoder = LineDecoder()
    data = text.encode()
    assert [line for b in bytewise(data) for line in decoder.feed(b)] == []
    assert decoder.partial == text
    assert decoder.feed(b"", final=True) == [text]


def test_output_buffer_spills_past_threshold() -> None:
    buf = OutputBuffer(threshold=1000)
    for _ in range(10):
        buf.write(b"x" * 150 + b"\n")
    assert buf.spilled and buf.size == 1510 and buf.line_count == 10
    assert buf.getvalue() == (b"x" * 150 + b"\n") * 10
    assert list(buf.iter_lines()) == ["x" * 150] * 10


@pytest.mark.parametrize("threshold", [1 << 20, 8])
def test_lines_split_on_newline_only_in_memory_and_on_disk(threshold: int) -> None:
    buf = OutputBuffer(threshold=threshold)
    buf.write(b"50%\r100%\r\ndone\x0cpage2\n\xc3\xa9t\xc3\xa9\nlast")
    assert buf.spilled is (threshold == 8)
    assert list(buf.iter_lines()) == ["50%\r100%", "done\x0cpage2", "été", "last"]
    assert buf.line_count == 4


@pytest.mark.parametrize("sizes", [[1, 7, 1 << 20, 3, (1 << 20) - 1, 5 << 20, 2], [4096] * 700])
def test_spilled_buffer_keeps_every_byte_in_order(sizes: list[int]) -> None:
    """Chunks smaller and larger than the spill block, and ones that fill it exactly."""
    buf = OutputBuffer(threshold=1000)
    expected = bytearray()
    for i, size in enumerate(sizes):
        chunk = bytes([65 + i % 26]) * size
        buf.write(chunk)
        expected += chunk
        if i % 3 == 0:  # reading while it is being written
            assert buf.tail(10) == bytes(expected[-10:])
    assert buf.spilled and buf.size == len(expected)
    assert buf.getvalue() == bytes(expected)
    assert b"".join(buf.iter_chunks(12345)) == bytes(expected)
    assert buf.tail(0) == b"" and buf.tail(3) == bytes(expected[-3:])


def test_display_shows_a_progress_line_as_a_terminal_would() -> None:
    sink = DisplaySink(environment="e", layers="local", what="w", tail=5)
    sink.feed(Stdout(b"copying 10%\rcopying 55%\rcopying 100%\r\ndone\n"))
    sink.close()
    text = sink.render()["text/plain"]
    assert "copying 100%\ndone\n" in text and "10%" not in text
    assert [line for _, line in sink.snapshot().lines][0] == "copying 10%\rcopying 55%\rcopying 100%"


def test_a_long_line_cut_before_its_ending_still_counts_what_it_lost() -> None:
    """review3: a line cut for being long (`cut_long`) that ended in a `\\r` lost its count
    of dropped characters: it came out as a plain str."""
    from orch_magics.sinks.lines import LineDecoder
    decoder = LineDecoder(1000)
    decoder.feed(b"y" * 1900 + b"\r")
    (line,) = decoder.cut_long(1000)
    assert isinstance(line, CutLine) and len(line) + line.dropped == 1900 and line.at == 500


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400).map(lambda b: bytes(b"ab\n\r\xc3\xa9"[x % 6] for x in b)),
       limit=st.integers(1, 40), sizes=st.lists(st.integers(1, 50), min_size=1))
def test_a_bounded_decoder_gives_each_line_cut_as_the_unbounded_one_gives_it(
        data: bytes, limit: int, sizes: list[int]) -> None:
    """However the chunks fall, a decoder bounded to `limit` gives the same lines as one that
    keeps all, each longer one as a CutLine of its start and end that counts the rest."""
    whole, bounded = LineDecoder(), LineDecoder(limit)
    full: list[str] = []
    kept: list[str] = []
    at = 0
    for size in sizes * (len(data) // len(sizes) + 1):
        if at >= len(data):
            break
        full += whole.feed(data[at:at + size])
        kept += bounded.feed(data[at:at + size])
        at += size
    full += whole.feed(b"", final=True)
    kept += bounded.feed(b"", final=True)
    assert len(full) == len(kept)
    for line, short in zip(full, kept, strict=True):
        if len(line) <= limit:
            assert short == line
        else:
            assert isinstance(short, CutLine) and len(short) <= limit
            assert short.dropped == len(line) - len(short)
            assert line.startswith(short[:short.at]) and line.endswith(short[short.at:])
