"""What a headless cell shows of a long output, for any output cut into any chunks: whole
lines of what the program printed on each side of the note, within the limits, and a note
whose counts are exact (frontends tester: a byte cut inside a line showed `7` where the
program printed `97`, an empty line it never printed, and a count one off; a stdout line
written around stderr output lost its start).

The reference here works on each stream's whole text; `HeadlessOutput` sees chunks as they
come, interleaved.
"""

from __future__ import annotations

import io
import itertools
import re
from contextlib import redirect_stderr, redirect_stdout

from hypothesis import given, settings
from hypothesis import strategies as st

from orch_magics.magics.bounded import Limit, elided_lines
from orch_magics.magics.headless import HeadlessOutput
from orch_magics.process.events import Stderr, Stdout

NOTE = re.compile(r"… (.*?) / (\d+) B elided; full output in X \(limit: [^)]*\)\n")

chunks = st.lists(st.tuples(st.sampled_from(["stdout", "stderr"]),
                            st.text(alphabet="ab\n", min_size=1, max_size=12)), max_size=14)
limits = st.tuples(st.one_of(st.none(), st.integers(1, 7)),
                   st.one_of(st.none(), st.integers(1, 40))).filter(lambda t: t != (None, None))


class _Recorder(io.StringIO):
    """One stream of the cell: each write is kept with its stream, in order."""

    def __init__(self, name: str, log: list[tuple[str, str]]) -> None:
        super().__init__()
        self.name, self.log = name, log

    def write(self, text: str) -> int:
        self.log.append((self.name, text))
        return len(text)


def _shown(sent: list[tuple[str, str]], limit: Limit) -> list[tuple[str, str]]:
    log: list[tuple[str, str]] = []
    out = HeadlessOutput(limit)
    with redirect_stdout(_Recorder("stdout", log)), redirect_stderr(_Recorder("stderr", log)):
        for stream, text in sent:
            out.feed((Stdout if stream == "stdout" else Stderr)(text.encode()))
            if len(log) % 3 == 0:
                out.write_pending()  # the magic writes the head ~10 times a second
        out.finish("X")
    return log


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line of `text`, its newline included."""
    spans, start = [], 0
    for i, char in enumerate(text):
        if char == "\n":
            spans.append((start, i + 1))
            start = i + 1
    if start < len(text):
        spans.append((start, len(text)))
    return spans


@settings(max_examples=600, deadline=None)
@given(sent=chunks, limit=limits)
def test_a_bounded_cell_shows_whole_lines_within_the_limits_and_counts_exactly(
        sent: list[tuple[str, str]], limit: tuple[int | None, int | None]) -> None:
    bound = Limit(*limit)
    log = _shown(sent, bound)
    printed = {s: "".join(t for name, t in sent if name == s) for s in ("stdout", "stderr")}
    notes = [i for i, (name, text) in enumerate(log) if name == "stdout" and NOTE.fullmatch(text)]
    if not notes:  # nothing elided: each stream whole, a last line ended in the cell only
        for s, text in printed.items():
            shown = "".join(t for name, t in log if name == s)
            assert shown == text + ("\n" if text and not text.endswith("\n") else ""), (s, log)
        return
    assert len(notes) == 1, log
    phrase, size = NOTE.fullmatch(log[notes[0]][1]).groups()  # type: ignore[union-attr]
    parts = {s: ("".join(t for name, t in log[:notes[0]] if name == s),
                 "".join(t for name, t in log[notes[0] + 1:] if name == s)) for s in printed}
    tails = {}
    for s, text in printed.items():
        tail = parts[s][1]
        ended = tail.endswith("\n") and not text.endswith("\n")  # the cell ends its last line
        tails[s] = tail[:-1] if ended else tail
        assert text.endswith(tails[s]), (s, tails[s], text)
    # where each head ends in the text: a newline after it may be the cell's (ending a cut line)
    heads = [[n for n in {len(head), len(head) - head.endswith("\n")}
              if text.startswith(head[:n])] for text, (head, _) in zip(printed.values(),
                                                                     parts.values(), strict=True)]
    ends = [ends for ends in itertools.product(*heads) if sum(
        len(text) - len(tails[s]) - h for (s, text), h in zip(printed.items(), ends, strict=True)
    ) == int(size)]
    assert ends, log
    failed: list[AssertionError] = []
    for choice in ends:  # a head that is one newline may be the cell's, ending a cut line
        try:
            return _check_counts(printed, parts, tails, choice, bound, phrase, log)
        except AssertionError as exc:
            failed.append(exc)
    raise failed[0]


def _check_counts(printed: dict[str, str], parts: dict[str, tuple[str, str]],
                  tails: dict[str, str], choice: tuple[int, ...], bound: Limit, phrase: str,
                  log: list[tuple[str, str]]) -> None:
    """With each stream's head ending at `choice`: heads and tails within their shares, and
    the note's phrase counting the lines elided whole and in part."""
    head_limit, tail_limit = bound.split()
    whole = pieces = elided = 0
    head_lines = head_size = tail_lines = tail_size = 0
    for (s, text), h in zip(printed.items(), choice, strict=True):
        head, tail = parts[s][0], tails[s]
        t = len(text) - len(tail)
        assert t >= h, log
        if h and text[h - 1] != "\n":  # the head ends inside a line: a first line too long
            assert "\n" not in head[:h] and _at_most_a_first_line(parts[_other(s)][0]), log
        if tail and t and text[t - 1] != "\n":  # the tail starts inside one: a long one
            assert "\n" not in tail[:-1], log  # (lines not ended yet outgrew the tail)
        head_lines += head[:h].count("\n") + (h > 0 and text[h - 1] != "\n")
        head_size += h
        tail_lines += len(_lines(tail))
        tail_size += len(tail)
        elided += t - h
        cut = [(a, b) for a, b in _lines(text) if a < t and b > h and t > h]  # an elided byte
        inside = [(a, b) for a, b in cut if a >= h and b <= t]
        whole += len(inside)
        pieces += len(cut) - len(inside)
    # a stream's first line may come once the head is full (the other stream won the race
    # of two pipes read at once): it is written there too, one line over the head's share
    short = min(4096, head_limit.size or 4096)  # FIRST_LINE, and the head's bytes
    firsts = [len(parts[s][0]) for s in printed
              if _at_most_a_first_line(parts[s][0]) and len(parts[s][0]) <= short
              and printed[s].startswith(parts[s][0])]
    assert not head_limit.over(head_lines, head_size) or any(
        not head_limit.over(head_lines - 1, head_size - n) for n in firsts if n), log
    assert not tail_limit.over(tail_lines, tail_size), (tail_lines, tail_size, log)
    assert phrase == elided_lines(whole, pieces), log


def _at_most_a_first_line(head: str) -> bool:
    """Whether a stream's head is empty or only its first line (ended)."""
    return head.count("\n") <= 1 and (not head or head.endswith("\n"))


def _other(stream: str) -> str:
    return "stderr" if stream == "stdout" else "stdout"


def test_a_byte_cut_shows_only_lines_the_program_printed() -> None:
    """`seq 1 100` with 25 bytes: `7` showed twice (the second the end of `97`)."""
    text = "".join(f"{i}\n" for i in range(1, 101))
    log = _shown([("stdout", text[i:i + 7]) for i in range(0, len(text), 7)], Limit(None, 25))
    shown = "".join(t for _, t in log)
    assert shown.startswith("1\n2\n3\n4\n5\n6\n… 91 lines / 270 B elided")  # 12 B of 13
    assert shown.endswith("(limit: %config Orch.headless_lines / headless_bytes)\n98\n99\n100\n")


def test_a_line_written_around_stderr_keeps_its_start() -> None:
    """`printf 'last-'; echo warn >&2; echo line` with a tail of one line showed `line`."""
    log = _shown([("stdout", "1\n2\n3\n"), ("stdout", "last-"), ("stderr", "warn\n"),
                  ("stdout", "line\n")], Limit(2, None))
    shown = "".join(t for _, t in log)
    assert shown.startswith("1\nwarn\n… 2 lines / 4 B elided") and \
        shown.endswith(")\nlast-line\n"), log


def test_a_stream_s_first_line_read_after_a_flood_of_the_other_is_in_the_head() -> None:
    """`echo 'ERROR: bad config' >&2; seq 1 100000`: two pipes read at once give no order
    between them, and the error line was read after stdout's first chunk had filled the head
    in 3 of 8 cells (with a 1-line limit, `echo err >&2; echo out` showed `out`, every time):
    it was elided, in `r.stderr` only. A stream's first line that the tail does not show is
    now written in the head."""
    flood = "".join(f"{i}\n" for i in range(1, 3001))
    log = _shown([("stdout", flood), ("stderr", "ERROR: bad config\n"), ("stdout", flood)],
                 Limit(10, None))
    err = "".join(t for name, t in log if name == "stderr")
    shown = "".join(t for _, t in log)
    assert err == "ERROR: bad config\n", log
    assert shown.startswith("1\n2\n3\n4\n5\nERROR: bad config\n… 5990 lines"), log
    # a first line the tail shows stays there, where it came
    log = _shown([("stdout", flood), ("stderr", "ERROR: at the end\n")], Limit(10, None))
    assert "".join(t for _, t in log).endswith("2999\n3000\nERROR: at the end\n"), log
    log = _shown([("stdout", "out\n"), ("stderr", "err\n")], Limit(1, None))
    assert "".join(t for _, t in log) == "out\nerr\n", log
    # a later line of a stream that has shown one is elided as before; so is a first line
    # longer than the head's bytes
    log = _shown([("stdout", flood), ("stderr", "e\n"), ("stderr", "f\n"), ("stdout", flood)],
                 Limit(10, None))
    assert "".join(t for name, t in log if name == "stderr") == "e\n", log
    log = _shown([("stdout", flood), ("stderr", "x" * 30 + "\n"), ("stdout", flood)],
                 Limit(None, 20))
    assert "".join(t for name, t in log if name == "stderr") == "", log
    # nor after a head that ends inside a line: a terminal would show them glued (review6)
    log = _shown([("stdout", "a" * 30 + "\n"), ("stderr", "ERROR\n"), ("stdout", flood)],
                 Limit(None, 20))
    assert "".join(t for name, t in log if name == "stderr") == "", log


def test_each_stream_s_last_line_is_ended_in_the_cell() -> None:
    """Only the stream written last got its newline: the note could follow `…end`."""
    log = _shown([("stdout", "a\n" * 10 + "end"), ("stderr", "err")], Limit(4, None))
    out = "".join(t for name, t in log if name == "stdout")
    err = "".join(t for name, t in log if name == "stderr")
    assert out.endswith("end\n") and err == "err\n", log
