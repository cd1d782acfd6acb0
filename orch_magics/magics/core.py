"""The %orch / %%orch magic: parse the line, then run or manage; user mistakes are UsageErrors.

Parsing is parser.py, runs are runs.py (presented by presenters.py), management subcommands
are subcommands.py; this module only dispatches and turns errors into one-line messages.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Collection
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from ..config.files import NoConfig
from ..config.suggest import did_you_mean, edit_distance
from ..errors import LayerError, OrchError, RunError
from ..kernel_input import kernel_asker
from ..orchestrator import Orchestrator
from . import runs
from .cells import CellRuns
from .frontend import count_cell, kernel_origin
from .handles import HandleDisplay
from .held_clicks import act_on_held_clicks
from .parser import HelpShown, parse, subcommand_typos
from .settings import Orch
from .subcommands import SUBCOMMANDS

#: What `%orch help` (usage, ?) answers, whether or not a configuration is loaded.
HELP_HINT = ("%orch --help shows how to use it (%orch SUBCOMMAND --help for one subcommand; "
             "%orch envs and %orch services what is loaded)")


#: Words of the `orch` command said another way here (`orch audit` is `%orch history`).
CLI_WORDS = {"audit": "the audit trail in a notebook is %orch history [-n N] (orch audit in a "
                      "terminal)",
             "cp": "files are copied with %orch get and %orch put (orch cp in a terminal)",
             "ls": "%orch envs and %orch services list what is loaded (orch ls in a terminal)",
             "check": "%orch load FILE reads a config and says each mistake in it (orch check "
                      "in a terminal)",
             "run": "a run in a notebook is %orch ENV SERVICE, or a %%orch ENV cell holding "
                    "the script (orch run in a terminal)"}


#: Subcommands that look at or steer runs by name: typed into the cell of a live run, they
#: leave it to go on (the cell starts nothing new).
LOOKS_AT_RUNS = frozenset({"envs", "services", "ps", "logs", "stop", "restart", "status",
                           "history", "forwards"})


@magics_class
class OrchMagics(Magics):
    """Holds one Orchestrator per shell: its config, and its named (background) runs."""

    def __init__(self, shell: Any, settings: Orch,
                 orchestrator: Orchestrator | None = None) -> None:
        super().__init__(shell)
        self.settings = settings
        self.orchestrator = orchestrator or Orchestrator()
        self.orchestrator.gate.ask = kernel_asker(shell)
        self.orchestrator.gate.origin = lambda: kernel_origin(shell)
        self.handles = HandleDisplay(shell)
        self.cells = CellRuns()
        self._cells: list[str | None] = []  # the text of each cell running, as typed: a
        # cell's code may run another (run_cell), which ends first

    def cell_started(self, info: object = None) -> None:
        """IPython's pre_run_cell: live stdin boxes hold Send and EOF while the cell runs; the
        cell's text tells a `%%orch` cell from code that calls the magic (`_returns`)."""
        _hold_boxes(True)
        self._cells.append(getattr(info, "raw_cell", None))

    def cell_ended(self, *_: object) -> None:
        """IPython's post_run_cell: a cell run again that holds no run any more stops the
        stdin runs it started when it last ran (their box is gone with its output); live
        boxes take Send and EOF again."""
        _hold_boxes(False)
        if self._cells:
            self._cells.pop()
        self.cells.ended(self.shell, self.orchestrator.stop)

    def _returns(self, cell: str | None) -> bool:
        """Does a run's value go back to the code that called the magic? The line form's
        does, and so does a cell magic a cell's code calls (magics12: five runs in a loop each
        said `_`, which held only the last); a `%%orch` cell's moves `_`. A call from another
        thread is always code's (magics18: it read the main thread's cell, and got None)."""
        if threading.current_thread() is not threading.main_thread():
            return True
        text = self._cells[-1] if self._cells else None
        if cell is None or text is None:
            return cell is None
        lines = text.lstrip().splitlines()
        while lines and lines[0].startswith("%%") and not _is_ours(lines[0]):
            lines.pop(0)  # `%%time`, `%%capture`: the cell is what follows (review25)
        return not (lines and _is_ours(lines[0]))

    @line_cell_magic
    def orch(self, line: str, cell: str | None = None) -> Any:
        """Run a service, or a cell of shell script, in an environment (%orch --help).

        %%orch ENV SERVICE [options]   the cell body is the service's stdin
        %%orch ENV [options]           the cell body is a shell script run in ENV
        %orch ENV SERVICE [options]    line form; `r = %orch ENV SERVICE` keeps the result
        %orch load FILE … | --demo     load environments/services
        %orch envs | services | ps | start | logs | stop | restart | status | history
        %orch get | put | forward | forwards
        """
        if cell is None and line.rstrip().endswith(";"):  # IPython's "show no value", not a
            line = line.rstrip()[:-1]  # word's end (magics18: "unknown service 'hello;'")
        try:
            check = self._check_environment if cell is None else self._check_cell_environment
            parsed = parse(line, check, runs_in=self._environments() if cell is not None else (),
                           environments=self._environments)
            if parsed.command != "run":
                if cell is not None:
                    raise UsageError(f"%orch {parsed.command} is a line magic; use one % sign")
                if parsed.command in LOOKS_AT_RUNS:  # magics18: `%orch restart NAME` typed
                    self.cells.left_alone(self.shell)  # in the cell of NAME's box stopped it
                return SUBCOMMANDS[parsed.command](self.orchestrator, parsed.args)
            ctx = runs.Context(self.shell, self.settings, self.orchestrator, self.handles,
                               self.cells, self._returns(cell))
            return runs.run(ctx, parsed.args, cell)
        except HelpShown:  # it changes nothing: the cell's runs go on
            self.cells.left_alone(self.shell)
            return None
        except OrchError as exc:
            if isinstance(exc, (RunError, LayerError)) or "_render_traceback_" in vars(exc):
                raise  # what the run met (a hop unreachable, …): shown as itself, one line
            raise UsageError(self._explain(exc)) from None  # config, names: user mistakes

    def _environments(self) -> Collection[str]:
        """The loaded environments' names (none before anything is loaded)."""
        try:
            return self.orchestrator.config.environments
        except NoConfig:
            return ()

    def _check_cell_environment(self, name: str, rest: list[str]) -> None:
        """The first word of a cell with a body: an environment, as no subcommand takes a
        body (`%%orch local` suggested the subcommand `load`: browser11); only a word given
        arguments (`%%orch histroy -n 2`) may be a subcommand's typo."""
        self._check_environment(name, rest, subcommands=bool(rest))

    def _check_environment(self, name: str, rest: list[str], *, subcommands: bool = True) -> None:
        """The first word of a run, before the rest of the line is parsed: `%orch sevices`
        is a misspelt subcommand; any other unknown word, an unknown environment."""
        asks_help = name.lower() in ("help", "usage", "?")  # what a person types for it
        try:
            environments = self.orchestrator.config.environments
        except NoConfig:  # the first thing a newcomer types, before loading anything
            if asks_help:
                raise UsageError(HELP_HINT) from None
            raise
        if name in environments:
            return
        if asks_help:
            raise UsageError(HELP_HINT)
        if name.lower() in CLI_WORDS:  # the terminal's word for it: say the notebook's
            raise UsageError(f"unknown environment {name!r}: {CLI_WORDS[name.lower()]}")
        spaced = next((" ".join([name, *rest[:k]]) for k in range(1, len(rest) + 1)
                       if " ".join([name, *rest[:k]]) in environments), None)
        if spaced is not None:  # magics21: `%orch my env …`, or `{env}` holding a space
            raise UsageError(f"unknown environment {name!r}: {spaced!r} is one; quote a name "
                             f"with spaces: %orch '{spaced}' … (or \"{{variable}}\")")
        guesses = subcommand_typos(name, rest) if subcommands else []
        if not guesses:
            self.orchestrator.config.run_environment(name)  # raises, with its did-you-mean
            return
        nearer = did_you_mean(name, environments)  # `lcoal`: the environment, not `load`
        word = name.lower()
        if nearer is not None and \
                edit_distance(word, nearer.lower()) <= edit_distance(word, guesses[0]):
            guesses = [nearer]
        raise UsageError(f"unknown subcommand or environment {name!r} (did you mean "
                         f"{' or '.join(map(repr, guesses))}?)")

    def _explain(self, exc: OrchError) -> str:
        """The message; when no configuration was found, how to load one in this front end's
        words."""
        if isinstance(exc, NoConfig):
            return str(exc.said("run %orch load FILE [FILE …] (%orch load --demo for the "
                                "built-in demo)"))
        return str(exc)

    def completions(self, line: str) -> list[str]:
        """Candidates for the word being typed on a %orch / %%orch line."""
        from .completion import candidates

        return candidates(self.orchestrator, line)


def _is_ours(line: str) -> bool:
    """Whether a cell's line is this magic's `%%orch …`."""
    return line.split(maxsplit=1)[0] == "%%orch"


def _hold_boxes(starting: bool) -> None:
    """Count a cell that starts or ends, and tell the live stdin boxes how many run (none
    without a box shown: ipywidgets is imported when the first box is)."""
    running = count_cell(starting)
    widget = sys.modules.get("orch_magics.magics.widget")
    if widget is not None:
        if starting:  # what was clicked before the cell acts first (browser23)
            act_on_held_clicks()
        widget.hold_for_cells(running)
