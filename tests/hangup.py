"""Children that take a hang-up as a closed terminal gives it, however the tests were started.

Under `nohup` (or any parent ignoring SIGHUP) the ignored disposition is inherited through
exec, and orch then rightly ignores the hang-up too: tests of what a hang-up does start the
child with the default disposition back.
"""

from __future__ import annotations

import signal


def default_hangup() -> None:
    """A `preexec_fn`: SIGHUP as a terminal's hang-up finds it in a login session."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
