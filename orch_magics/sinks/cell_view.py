"""What a run's cell shows, rendered: a `Snapshot` of the display as text/plain and text/html.

The HTML is JupyterLab's own stream-output look: escaped text in `<pre>`s (never markup, never
math), stderr on the error background, ANSI colours as the theme's classes (`sinks.ansi`),
carried across lines as a terminal does, from the colours the lines no longer shown had set.
"""

from __future__ import annotations

import collections
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..text import plural
from .ansi import ESCAPE, Colours, keep_colours
from .file import FileProgress
from .lines import CutLine, terminal_view
from .tail import Stream

#: Characters of one line shown before it is cut (the result keeps it whole).
MAX_LINE = 2000


@dataclass(frozen=True)
class Snapshot:
    """What the cell shows at one moment (taken under the sink's lock)."""

    lines: list[tuple[Stream, str]]
    hidden: int
    before: list[tuple[Stream, str]]  # pre step output
    after: list[tuple[Stream, str]]  # post step output
    status: str
    done: bool
    ok: bool | None
    kept: str = "all kept in the result"  # where the hidden lines are
    #: The colours each stream had set when its first line shown began (set by lines no
    #: longer shown: a colour holds until reset, as on a terminal).
    colours: Mapping[Stream, list[str]] = field(default_factory=dict)


_PREFIX = {"stdout": "", "stderr": "[stderr] ", "stdin": "› ", "note": ""}


def render_text(snap: Snapshot) -> str:
    """The text/plain view (colours kept as SGR escapes, which front ends render)."""
    out = [_PREFIX[stream] + keep_colours(shown(line)) for stream, line in snap.before]
    if snap.hidden:
        out.append(f"… {plural(snap.hidden, 'earlier line')} hidden ({snap.kept})")
    for stream, line in [*snap.lines, *snap.after]:
        out.append(_PREFIX[stream] + keep_colours(shown(line)))
    out.append(f"[{snap.status}]")
    return "\n".join(out)


#: Marks the output so MathJax leaves `$…$` alone (JupyterLab 4: mathjax_ignore; 3: tex2jax).
NO_MATH = "mathjax_ignore tex2jax_ignore"
_ERROR_BG = ("background-color:rgba(231,92,88,.15);"
             "background-color:var(--jp-rendermime-error-background,rgba(231,92,88,.15))")
#: A stream output's text metrics (an HTML output's own are larger); the literal values are
#: JupyterLab's defaults, kept where an untrusted notebook's sanitizer drops `var()`.
_PRE = ("margin:0;padding:0;font-size:13px;font-size:var(--jp-code-font-size);"
        "line-height:1.3077;line-height:var(--jp-code-line-height)")
_STYLE = {"stdout": "", "stderr": _ERROR_BG, "stdin": "opacity:0.65;font-style:italic",
          "note": "opacity:0.65"}

#: The status line's look: dimmed while running; the theme's own success and error colours
#: at the end, readable on a light and a dark theme alike (the ANSI intense red of JupyterLab
#: Dark is 2.4:1 on its background; these are ~5:1).
_OUTCOME = {None: "opacity:0.85", True: "color:var(--jp-success-color1,#388e3c)",
            False: "color:var(--jp-error-color1,#d32f2f)"}


def render_html(snap: Snapshot) -> str:
    """The text/html view: escaped text in `<pre>`s styled as a stream output, never math."""
    colours: dict[Stream, Colours] = collections.defaultdict(Colours)
    rows = [_row(stream, line, colours) for stream, line in snap.before]
    rows += [_hidden(snap.hidden, snap.kept)] if snap.hidden else []
    colours.update((stream, Colours(classes)) for stream, classes in snap.colours.items()
                   if classes)
    rows += [_row(stream, line, colours) for stream, line in [*snap.lines, *snap.after]]
    tail = _tail(rows)
    status = (f'<pre class="orch-status" style="{_PRE};{_OUTCOME[snap.ok]}">'
              f'{html.escape(snap.status, quote=False)}</pre>')
    return (f'<div class="orch-run jp-RenderedText {NO_MATH}" '
            f'data-mime-type="application/vnd.jupyter.stdout">'
            f'{tail}{status}</div>')


def lines_html(lines: Sequence[tuple[Stream, str]], hidden: int = 0,
               start: Mapping[Stream, list[str]] | None = None) -> str:
    """Lines as a single run's cell shows them (colours, `\\r` applied, stderr on red, never
    markup or math), after a note of the `hidden` lines before them: a fleet target's row.
    `start`: the colours each stream's first line starts from (set by lines not shown)."""
    colours: dict[Stream, Colours] = collections.defaultdict(Colours)
    colours.update((stream, Colours(classes)) for stream, classes in (start or {}).items())
    rows = [_hidden(hidden, "all kept in the result")] if hidden else []
    rows += [_row(stream, line, colours) for stream, line in lines]
    return f'<div class="jp-RenderedText {NO_MATH}">{_tail(rows)}</div>'


def _hidden(count: int, kept: str) -> str:
    """The note of `count` earlier lines not shown, and where they are."""
    return (f'<span class="orch-hidden" style="opacity:0.6">… {plural(count, "earlier line")} '
            f'hidden ({html.escape(kept)})</span>')


def _tail(rows: list[str]) -> str:
    return f'<pre class="orch-tail" style="{_PRE}">' + "\n".join(rows) + "</pre>" if rows else ""


def _row(stream: Stream, line: str, colours: dict[Stream, Colours]) -> str:  # as they left it
    head, rest, hidden = cut(line)
    text = colours[stream].html(head)
    if "\x1b" in rest:  # colours set past the cut hold on
        colours[stream].apply(rest)
    if hidden > 0:  # in no colour of the line's: the note is orch's, not the output's
        text += f'<span class="orch-cut" style="opacity:0.6"> … (+{hidden} chars)</span>'
    if stream == "stdin":
        text = "› " + text
    style = f' style="{_STYLE[stream]}"' if _STYLE[stream] else ""
    return f'<span class="orch-{stream}"{style}>{text}</span>'


def shown(line: str) -> str:
    """A line as a terminal shows it, cut to MAX_LINE characters, with how many more it has
    (see `cut`)."""
    head, _, hidden = cut(line)
    return head if hidden <= 0 else f"{head} … (+{hidden} chars)"


def cut(line: str) -> tuple[str, str, int]:
    """A line as a terminal shows it (carriage returns applied) as (what is shown, the rest,
    how many characters are not shown). MAX_LINE and the count are characters a terminal
    shows: escape sequences take none, and the cut never splits one (browser10: a 2,000
    character coloured line showed 333 of them and a stray `␛[`). Not shown are those past
    the cut and those the decoder did not keep of a line longer than it holds (a `CutLine`;
    of one rewritten by `\r`, the kept end is what a terminal shows, so only its view counts)."""
    view = terminal_view(line)
    at = _after_visible(view, MAX_LINE)
    rest = view[at:]
    hidden = len(ESCAPE.sub("", rest)) if "\x1b" in rest else len(rest)
    if isinstance(view, CutLine) and view.at:  # its start and end shown: between them hidden
        hidden += view.dropped
    return view[:at], rest, hidden


def _after_visible(text: str, count: int) -> int:
    """The index in `text` after its first `count` shown characters (and the escape sequences
    among them), never inside an escape sequence."""
    if "\x1b" not in text:
        return min(count, len(text))
    pos = shown = 0
    for match in ESCAPE.finditer(text):
        if shown + match.start() - pos >= count:
            break
        shown += match.start() - pos
        pos = match.end()
    return min(pos + count - shown, len(text))


#: Verdicts that already say how a run ended badly (a bare `exit 3` gets "failed, " first).
_SAYS_THE_END = ("failed", "pre command failed", "interrupted", "timed out", "stopped")


def outcome_words(verdict: str, ok: bool | None) -> str:
    """The end in words, so it reads right without colour: ✓ exit 0 / ✗ failed, exit 3 /
    ✗ interrupted, killed by SIGINT."""
    if ok:
        return f"✓ {verdict}"
    if ok is None:
        return verdict
    return f"✗ {verdict}" if verdict.startswith(_SAYS_THE_END) else f"✗ failed, {verdict}"


def describe_end(result: Any) -> tuple[str, bool]:
    """The status word for a finished RunResult (or a failure before it existed)."""
    if result is None:
        return "failed", False
    state = result.outcome()
    if result.audit_id:
        state += f" · audit {result.audit_id}"  # the saved notebook names its log record
    if result.truncated:  # a named run's result holds only the end of its output
        state += f" · {result.kept()}"
    return state, bool(result.ok)


class FollowedRun(Protocol):
    """What the view asks of the run it shows: its state (`starting` until its process is
    there), in stdout_mode file the file's progress, and the bytes its stdin took so far."""

    @property
    def state(self) -> str: ...
    @property
    def progress(self) -> FileProgress | None: ...
    @property
    def stdin_bytes(self) -> int: ...


class _NotStarted:
    """The run of a view before the run is there to follow: it is starting."""

    state, progress, stdin_bytes = "starting", None, 0


#: What a view follows until it is handed its run (`follow`).
NOT_STARTED: FollowedRun = _NotStarted()
