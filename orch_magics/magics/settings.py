"""`Orch`: the magics' defaults as traitlets, so `%config Orch.tail = 200` changes them.

Values are checked when set: a bad one is refused at the `%config` line in one line, not
accepted to fail (or hide every output) at a later run.
"""

from __future__ import annotations

import sys
from typing import Any

from traitlets import Bool, Float, Int, TraitError, validate
from traitlets.config import Config, Configurable

from ..limits import MAX_SECONDS


class SettingRefused(TraitError):
    """A value an `Orch` setting cannot take; shown as one line (no traceback)."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class _Numeric:
    """A number setting that takes no bool and no fraction where a whole number is meant
    (`%config Orch.timeout = True` became a 1-second timeout on every run), and says so in
    its own words for a value that is no number (`'abc'`)."""

    def validate(self, obj: Any, value: Any) -> Any:
        whole = isinstance(self, Int)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        empty = value is None and getattr(self, "allow_none", False)  # None: "no limit"
        if not number and not empty or whole and isinstance(value, float):
            kind = "a whole number" if whole else "a number"
            raise SettingRefused(f"Orch.{self.name} needs {kind}, not {value!r}")  # type: ignore[attr-defined]
        return super().validate(obj, value)  # type: ignore[misc]


class Number(_Numeric, Float):  # type: ignore[misc]
    """A Float setting (see `_Numeric`)."""


class Whole(_Numeric, Int):  # type: ignore[misc]
    """An Int setting (see `_Numeric`)."""


class Orch(Configurable):
    """Defaults of the %orch / %%orch magics (set with `%config Orch.<name> = <value>`)."""

    tail = Whole(40, help="Lines of output shown in a front end's cell while a run streams (the "
                        "result keeps everything; 0: none). Per run: --tail N.").tag(config=True)
    update_interval = Number(0.1, help="Seconds between two refreshes of a running cell's "
                                      "display (0.1 = 10 updates/s).").tag(config=True)
    raise_error = Bool(True, help="Raise RunError when a blocking run fails. Per run: "
                                  "--no-raise-error.").tag(config=True)
    timeout = Number(None, allow_none=True,
                    help="Default timeout in seconds for the runs a cell waits for (None: "
                         "the service's own timeout, or none); a --bg or stdin-box run goes "
                         "on. Per run: --timeout S.").tag(config=True)
    stdin_widget = Bool(True, help="Show the stdin box (text + Send/EOF/Stop) for runs that "
                                   "take stdin in a front end.").tag(config=True)
    headless_lines = Whole(1000, allow_none=True,
                         help="Without a live front end (nbclient, papermill, terminal "
                              "IPython): lines of a run's output written to the cell, half "
                              "from its start and half from its end, with a note of what was "
                              "elided (the result keeps everything). None: no limit."
                         ).tag(config=True)
    headless_bytes = Whole(256 * 1024, allow_none=True,
                         help="Without a live front end: bytes of a run's output written to "
                              "the cell (half head, half tail). None: no limit."
                         ).tag(config=True)

    def keep_in(self, config: Config) -> None:
        """Write the values in force into `config` (the shell's): IPython merged a value
        `%config` refused into it, over the one these settings kept (review13)."""
        for name in self.trait_names(config=True):
            config.Orch[name] = getattr(self, name)

    @validate("tail")
    def _tail(self, proposal: dict[str, Any]) -> int:
        return _at_least(proposal, 0, "a number of lines >= 0")

    @validate("update_interval")
    def _update_interval(self, proposal: dict[str, Any]) -> float:
        return _positive(proposal, f"a number of seconds > 0 and at most {MAX_SECONDS:g}")

    @validate("timeout")
    def _timeout(self, proposal: dict[str, Any]) -> float | None:
        return _positive(proposal, f"a number of seconds > 0 and at most {MAX_SECONDS:g}, or "
                                   f"None (no timeout)")

    @validate("headless_lines")
    def _headless_lines(self, proposal: dict[str, Any]) -> int | None:
        return _at_least(proposal, 1, "a number of lines > 0, or None (no limit)")

    @validate("headless_bytes")
    def _headless_bytes(self, proposal: dict[str, Any]) -> int | None:
        return _at_least(proposal, 1, "a number of bytes > 0, or None (no limit)")


def _at_least(proposal: dict[str, Any], low: int, needs: str) -> Any:
    value = proposal["value"]
    if value is not None and value < low:
        raise SettingRefused(f"Orch.{proposal['trait'].name} needs {needs}, not {value!r}")
    return value


def _positive(proposal: dict[str, Any], needs: str) -> Any:
    value = proposal["value"]
    if value is not None and not 0 < value <= MAX_SECONDS:  # NaN and inf too: as a run checks
        # it (basics12: 2e9 was taken here, then every cell without --timeout refused it)
        raise SettingRefused(f"Orch.{proposal['trait'].name} needs {needs}, not {value!r}")
    return value


def settings_for(shell: Any) -> Orch:
    """The shell's `Orch`. A value its config holds that a setting refuses (from
    ipython_config.py, or a `%config` line refused earlier, which IPython still merged into
    the shell's config) is dropped with one line: the extension loads with that setting's
    default, where the refused value made `%load_ext` fail and `%orch` not exist."""
    section = shell.config.get("Orch") if "Orch" in shell.config else {}
    for key, value in list(section.items()):
        try:
            Orch(config=Config({"Orch": {key: value}}))
        except TraitError as exc:
            del section[key]
            print(f"orch_magics: {exc}; Orch.{key} keeps its default", file=sys.stderr)
    return Orch(parent=shell)
