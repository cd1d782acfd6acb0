"""`Orch`: the magics' defaults as traitlets, so `%config Orch.tail = 200` changes them."""

from __future__ import annotations

from traitlets import Bool, Float, Int
from traitlets.config import Configurable


class Orch(Configurable):
    """Defaults of the %orch / %%orch magics (set with `%config Orch.<name> = <value>`)."""

    tail = Int(40, help="Lines of output shown in a front end's cell while a run streams (the "
                        "result keeps everything). Per run: --tail N.").tag(config=True)
    update_interval = Float(0.1, help="Seconds between two refreshes of a running cell's "
                                      "display (0.1 = 10 updates/s).").tag(config=True)
    raise_error = Bool(True, help="Raise RunError when a blocking run fails. Per run: "
                                  "--no-raise-error.").tag(config=True)
    timeout = Float(None, allow_none=True,
                    help="Default timeout in seconds for runs (None: the service's own "
                         "timeout, or none). Per run: --timeout S.").tag(config=True)
    stdin_widget = Bool(True, help="Show the stdin box (text + Send/EOF/Stop) for runs that "
                                   "take stdin in a front end.").tag(config=True)
    headless_lines = Int(1000, allow_none=True,
                         help="Without a live front end (nbclient, papermill, terminal "
                              "IPython): lines of a run's output written to the cell, half "
                              "from its start and half from its end, with a note of what was "
                              "elided (the result keeps everything). None: no limit."
                         ).tag(config=True)
    headless_bytes = Int(256 * 1024, allow_none=True,
                         help="Without a live front end: bytes of a run's output written to "
                              "the cell (half head, half tail). None: no limit."
                         ).tag(config=True)
