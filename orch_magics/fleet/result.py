"""FleetResult: a fleet run as a value — label → RunResult, with the roll-ups people ask for.

`.succeeded` / `.failed` are FleetResults of the targets that did / did not succeed (a failed
one may have been refused, timed out, stopped or skipped: `.states` and `.causes` say which),
`.groups()` rolls identical outputs up (dshbak), and `.rerun()` runs the same thing again on
exactly these targets.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, TypeVar

from .. import result_json
from ..config.suggest import did_you_mean
from ..errors import FleetError, OneLine, OrchError
from ..keywords import keywords_checked
from ..result import RunResult
from ..result_words import final_line, timed_out_after
from ..secrets.masking import mask_text
from ..text import bytes_shown, columns, cut, padded, plural, printable

#: Runs the same service or command again on the given labels (`yes`: confirmations).
Rerun = Callable[[list[str], "str | Collection[str]"], "FleetResult"]
#: How a target ended.
STATES = ("ok", "failed", "stopped", "skipped")
#: A target's states before it ends, in order.
LIVE_STATES = ("queued", "starting", "running")
#: What `rows()` gives for each target, and the columns of `to_dataframe()` (label: its index).
ROW_KEYS = ("label", "state", "returncode", "duration", "stdout_bytes", "stderr_bytes", "cause",
            "last_line", "audit_id")
#: Rows the HTML summary shows at most (the counts in its title cover every target).
HTML_ROWS = 50
#: A fleet's HTML tables (its result's, the magic's final one): a fixed layout, so a long word
#: breaks instead of widening the table past the output, left-aligned (JupyterLab right-aligns
#: a bare table's cells: browser13); only CSS JupyterLab's sanitizer keeps for an untrusted
#: notebook (review20: `overflow-wrap:anywhere`, `word-break:break-word`, `.8` are dropped).
#: In a narrow output (500 px: notebook14) it keeps 50em and scrolls sideways instead of
#: squeezing the first column to a character a line.
HTML_TABLE = ("<div style='overflow-x:auto'>"
              "<table style='table-layout:fixed;width:100%;min-width:50em'>")
HTML_TABLE_END = "</table></div>"
#: A cell of long text (a label, a cause, a last line): it takes the width the others leave.
HTML_WIDE = "<td style='text-align:left;vertical-align:top;overflow-wrap:break-word'>"
#: A short cell (state, time, exit, audit id): on the row's first line, never broken.
HTML_SHORT = "<td style='text-align:left;vertical-align:top;white-space:nowrap'>"


T = TypeVar("T")


class UnknownTarget(OneLine, KeyError):
    """A label a fleet's result does not hold (a KeyError: `in` and `.get` work as for a
    dict), said with its nearest label, as `--limit` and `logs` say one."""

    def __init__(self, label: object, labels: Collection[str]) -> None:
        near = did_you_mean(label, labels) if isinstance(label, str) else None
        said = f"did you mean {near!r}?" if near else f"it holds {plural(len(labels), 'target')}"
        super().__init__(f"no target {label!r} in this result ({said})")

    def __str__(self) -> str:
        return str(self.args[0])


class ByTarget(Mapping[str, T]):
    """label → what one target gave, in target order (the mapping of every fleet outcome)."""

    def __init__(self, results: Mapping[str, T]) -> None:
        self._results = dict(results)

    def __getitem__(self, label: str) -> T:
        try:
            return self._results[label]
        except (KeyError, TypeError):  # a label it lacks: the nearest one said (fleets24)
            raise UnknownTarget(label, self._results) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)


@keywords_checked
class FleetResult(ByTarget[RunResult]):
    """label → RunResult of every target of one fleet run, in target order."""

    def __init__(self, environment: str, results: Mapping[str, RunResult],
                 states: Mapping[str, str], rerun: Rerun | None = None) -> None:
        super().__init__(results)
        self.environment = environment
        self.states: dict[str, str] = {k: states[k] for k in self._results}
        self._rerun = rerun

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (sent back by a worker process) without the way to run it again: that
        belongs to the Orchestrator that ran it, in the process that ran it."""
        return {**self.__dict__, "_rerun": None}

    # ---- verdicts -------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        """True when every target succeeded."""
        return all(state == "ok" for state in self.states.values())

    @property
    def exit_status(self) -> int:
        """0 when every target succeeded, else 1 (what `orch run` exits with)."""
        return 0 if self.ok else 1

    def _subset(self, keep: Callable[[str], bool]) -> FleetResult:
        chosen = {k: v for k, v in self._results.items() if keep(k)}
        return FleetResult(self.environment, chosen, self.states, self._rerun)

    @property
    def succeeded(self) -> FleetResult:
        return self._subset(lambda k: self.states[k] == "ok")

    @property
    def failed(self) -> FleetResult:
        """Every target that did not succeed (failed, stopped or skipped)."""
        return self._subset(lambda k: self.states[k] != "ok")

    @property
    def returncodes(self) -> dict[str, int | None]:
        return {k: r.returncode for k, r in self._results.items()}

    @property
    def causes(self) -> dict[str, str]:
        """label → why it did not succeed, in a few words (`ok` for those that did)."""
        return {k: cause(r, self.states[k]) for k, r in self._results.items()}

    def groups(self) -> list[tuple[list[str], str]]:
        """(labels, stdout) of targets whose stdout is the same bytes, largest group first.
        Targets whose process never ended with a status (unreachable, skipped, stopped before
        it started), and those that failed (fleets21: an exit 2 or a timeout rolled up with
        the ok ones), group apart from those that printed the same: one group means every
        target ran, succeeded and agrees. Bytes, not text: outputs that are not UTF-8 differ
        as they do; a `stdout_mode: file` run's are its file's."""
        by_output: dict[tuple[bytes, bool, bool], list[str]] = {}
        for label, result in self._results.items():
            key = (_stdout_digest(result), result.returncode is not None, result.ok)
            by_output.setdefault(key, []).append(label)
        return sorted(((labels, self._results[labels[0]].stdout)
                       for labels in by_output.values()), key=lambda group: -len(group[0]))

    def close(self) -> None:
        """`RunResult.close()` of every target: their output's memory and disk space back."""
        for result in self.values():
            result.close()

    def check(self) -> FleetResult:
        """Return self when every target succeeded, else raise FleetError (a RunError whose
        `.result` is this FleetResult) naming the others."""
        if not self.ok:
            bad = self.failed
            raise FleetError(self, f"{len(bad)} of {plural(len(self), 'target')} did not succeed: "
                            + ", ".join(f"{k} ({c})" for k, c in list(bad.causes.items())[:5]))
        return self

    def rerun(self, *, yes: str | Collection[str] = ()) -> FleetResult:
        """Run the same service (or command) again on exactly these targets, admitted as a new
        run under the config as it is now (a protected environment is confirmed as `run` is:
        covered within its `confirm_ttl` of a confirmation, else asked again; `yes` confirms
        it as `run(..., yes=)` does)."""
        if self._rerun is None:
            raise OrchError("this FleetResult does not know how it was run (one made by hand, "
                            "or unpickled: rerun() works where the fleet ran)")
        if not self._results:
            raise OrchError("no target to run again")
        return self._rerun(list(self._results), yes)

    # ---- presentation ---------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per target, with the keys ROW_KEYS."""
        return [dict(zip(ROW_KEYS, (
            k, self.states[k], r.returncode, round(r.duration, 3), r.stdout_buffer.size,
            r.stderr_buffer.size, cause(r, self.states[k]), mask_text(last_line(r)),
            r.audit_id), strict=True)) for k, r in self._results.items()]

    def summary(self) -> str:
        """`30 targets: 27 ok, 2 failed, 1 skipped`."""
        counts = {s: list(self.states.values()).count(s) for s in STATES}
        parts = [f"{n} {s}" for s, n in counts.items() if n]
        return plural(len(self), "target") + (
            f": {', '.join(parts)}" if parts else "")

    def table(self) -> str:
        """The summary table as text (what the CLI and nbclient show); control characters a
        target printed are shown escaped (`\\x1b`), so no target can repaint orch's report.
        A failed target's cause is shown whole (it is what to act on: the socket tried, the
        hint); an ok target's last line is cut at 80 characters. Each row names its audit
        record when the runs were audited (a saved notebook or a terminal log links to it)."""
        rows = self.rows()
        labels = [printable(r["label"]) for r in rows]
        width = max([len("TARGET"), *map(columns, labels)])
        audit = max((len(r["audit_id"] or "") for r in rows), default=0)
        head = f"{'AUDIT':<{audit}}  " if audit else ""
        lines = [f"{'TARGET':<{width}}  {'STATE':<7}  {'EXIT':>4}  {'TIME':>7}  {head}"
                 f"CAUSE / LAST LINE"]
        for r, label in zip(rows, labels, strict=True):
            code = _shown_exit(r)  # a stop is no `-2`
            info = printable(r["cause"]) if r["state"] != "ok" else printable(r["last_line"])[:80]
            label = padded(label, width)  # wide characters: 2
            record = f"{r['audit_id'] or '-':<{audit}}  " if audit else ""
            lines.append(f"{label}  {r['state']:<7}  {code:>4}  "
                         f"{r['duration']:>6.2f}s  {record}{info}")
        lines.append(self.summary())
        return "\n".join([*lines, *map(printable, files_said(self._results))])

    def _repr_html_(self) -> str:
        """The summary table for a notebook: at most HTML_ROWS rows, those that did not succeed
        first, so 10,000 targets never make a 10,000-row output (`.table()` has them all)."""
        import html  # only a notebook's display needs it (cold start: issue 15)

        from ..sinks.cell_view import NO_MATH

        # browser13: bare, it was right-aligned by JupyterLab, a long cause squeezed the last
        # line to a word a line and pushed the audit column off: a fixed layout, left-aligned,
        # short columns as wide as their values, long texts cut (whole in `.table()`, rows)
        wide, short = HTML_WIDE, HTML_SHORT
        widths = {"state": "4.5em", "exit": "2.5em", "time": "4em", "audit": "10em"}
        head = "".join("<th style='text-align:left" + (f";width:{widths[h]}'>" if h in widths
                                                        else "'>") + f"{h}</th>"
                       for h in ("target", "state", "exit", "time", "cause", "last line",
                                 "audit"))
        rows = sorted(self.rows(), key=lambda r: r["state"] == "ok")
        body = "".join(
            f"<tr>{wide}{html.escape(str(r['label']))}</td>"
            + "".join(f"{short}{html.escape(v)}</td>" for v in (
                r["state"], _shown_exit(r), f"{r['duration']:.2f}s"))
            + "".join(f"{wide}{html.escape(cut(v, 200))}</td>" for v in (
                "" if r["state"] == "ok" else str(r["cause"]), str(r["last_line"])))
            + f"{short}{html.escape(r['audit_id'] or '')}</td></tr>" for r in rows[:HTML_ROWS])
        more = (f"<p>… {len(rows) - HTML_ROWS} more targets: <code>.table()</code>, "
                f"<code>.to_dataframe()</code></p>" if len(rows) > HTML_ROWS else "") + "".join(
            f"<p>{html.escape(line)}</p>" for line in files_said(self._results))
        # a target's output is text: `$5 and $7` is never typeset as math
        return (f"<div class='orch-fleet {NO_MATH}'><b>{html.escape(self.summary())}</b>"
                f"{HTML_TABLE}<thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody>{HTML_TABLE_END}{more}"
                f"</div>")

    def to_dataframe(self) -> Any:
        """The rows as a pandas DataFrame indexed by label (needs `orch_magics[pandas]`). With
        no target (`res.failed` when all succeeded) it is empty but has the columns, of the
        same types (frames of reruns concatenate); exit codes stay whole numbers (nullable
        Int64: <NA> where a target has none)."""
        try:
            import pandas
        except ImportError:
            raise OrchError("to_dataframe() needs pandas: pip install 'orch_magics[pandas]'"
                            ) from None
        frame = pandas.DataFrame(self.rows(), columns=list(ROW_KEYS))
        types = {"returncode": "Int64", "duration": "float64", "stdout_bytes": "int64",
                 "stderr_bytes": "int64"}
        if frame.empty:  # nothing to infer from: the types rows would have given
            types.update(dict.fromkeys(("label", "state", "cause", "last_line", "audit_id"),
                                       "str"))
        return frame.astype(types).set_index("label")

    def to_dict(self) -> dict[str, Any]:
        return self._data(RunResult.to_dict)

    def json(self, **kw: Any) -> str:
        result_json.check_options(kw, "json")
        text = io.StringIO()
        self.write_json(text, **kw)
        return text.getvalue()

    def write_json(self, out: result_json.JsonTarget, **kw: Any) -> None:
        """Write what `json()` returns to `out` (a path or an open file), each target's output
        a chunk at a time."""
        result_json.write(self._data(RunResult.json_data), out, **kw)

    def _data(self, of: Callable[[RunResult], dict[str, Any]]) -> dict[str, Any]:
        return _shape(self.environment, self.ok, self.summary(),
                      {k: {**of(r), "state": self.states[k], "cause": cause(r, self.states[k])}
                       for k, r in self._results.items()})

    @staticmethod
    def none_found(environment: str, error: str) -> dict[str, Any]:
        """What `json()` says of a fleet that found no target to run: not ok, and why."""
        return {**_shape(environment, False, "0 targets", {}), "error": mask_text(bytes_shown(error))}

    def __repr__(self) -> str:
        return f"<FleetResult {self.environment}: {self.summary()}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


def _shape(environment: str, ok: bool, summary: str, targets: dict[str, Any]) -> dict[str, Any]:
    """A fleet's JSON: the same keys whether or not it found targets."""
    return {"environment": environment, "ok": ok, "summary": summary, "targets": targets}


def cause(result: RunResult, state: str) -> str:
    """Why a target did not succeed, in a few words (`ok` when it did; its colours out)."""
    if state == "ok":
        return "ok"
    if result.timed_out:  # the limit said too: the stop ladder may take seconds past it
        left = result.exit.error  # the stop could not end it (a silent link): what is left
        return mask_text(timed_out_after(result)
                         + (f"; {str(left).splitlines()[0]}" if left is not None else ""))
    step = result.failed_step
    if step is not None and not step.interrupted and step.exit.returncode is not None:
        # how it ended and why, as a single run says it (fleets21: a pre command's row gave
        # the whole command quoted, no status, no line)
        err = final_line(step.stderr_buffer.tail(400).decode("utf-8", "replace"))
        return mask_text(f"{step.step} command failed ({step.exit.describe()})"
                         + (f": {err}" if err else ""))
    if result.exit.error is not None and result.exit.code is None:
        return mask_text(str(result.exit.error).splitlines()[0])
    if result.interrupted:
        return "stopped"
    if step is not None:
        return f"{step.step} command failed ({step.exit.describe()})"
    err = final_line(result.stderr_buffer.tail(400).decode("utf-8", "replace"))
    return mask_text(result.exit.describe() + (f": {err}" if err else ""))


def _shown_exit(row: dict[str, Any]) -> str:
    """An exit status a process gave itself; a stop or a signal's death says its cause (the
    live table's rule: no Python `-2` shown)."""
    code = row["returncode"]
    return "" if code is None or code < 0 or row["state"] == "stopped" else str(code)


def files_said(results: Mapping[str, RunResult]) -> list[str]:
    """Where file-mode targets' stdout went, as a single run says it (fleets19: a fleet's
    report named no file, not even the `.partial` of a failed target's output so far)."""
    written = {k: r.output_file for k, r in results.items() if r.output_file is not None}
    partial = [r.partial_file for r in results.values() if r.partial_file is not None]
    said = []
    if written:
        shapes = {_shaped(path, label) for label, path in written.items()}
        where = shapes.pop() if len(shapes) == 1 and len(written) > 1 else \
            ", ".join(_cut_list(list(written.values())))
        said.append(f"stdout of {plural(len(written), 'target')} written to {where}")
    if partial:
        said.append(f"stdout so far of {plural(len(partial), 'target')} kept in "
                    f"{', '.join(_cut_list(partial))}")
    return [mask_text(line) for line in said]


def _shaped(path: str, label: str) -> str:
    """`out/127.0.1.1/dump.txt` as `out/<label>/dump.txt` (a label nests: `eu/db-1`)."""
    parts = path.split("/")
    depth = label.count("/") + 1
    if len(parts) <= depth or "/".join(parts[-depth - 1:-1]) != label:
        return path
    return "/".join([*parts[:-depth - 1], "<label>", parts[-1]])


def _cut_list(paths: list[str], most: int = 3) -> list[str]:
    """At most `most` paths, then how many more."""
    return paths[:most] + ([f"… {len(paths) - most} more"] if len(paths) > most else [])


def last_line(result: RunResult) -> str:
    """The last line a target printed, its colours and other terminal sequences taken out
    (a table shows text: `ERROR` in red read as `\x1b[31mERROR\x1b[0m`)."""
    return final_line(result.stdout_buffer.tail(400).decode("utf-8", "replace"))


def _stdout_digest(result: RunResult) -> bytes:
    """The sha256 of what a target wrote on stdout: its output file's bytes when stdout went
    to one (files7: every such target had the same empty capture), else the kept output; one
    output in memory at a time, a chunk at a time."""
    digest = hashlib.sha256()
    if result.output_file is not None:
        digest.update(b"file:")  # an unreadable file groups apart, never with an empty one
        with contextlib.suppress(OSError), open(result.output_file, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        return digest.digest()
    for chunk in result.stdout_buffer.iter_chunks():
        digest.update(chunk)
    return digest.digest()

