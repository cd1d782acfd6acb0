"""`--out NAME`: the user-namespace variable a run's result goes to, checked before it runs."""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata

from IPython.core.error import UsageError

#: What IPython itself looks up in the user's namespace (every `%orch` line is compiled to
#: `get_ipython().run_line_magic(…)`; `In`, `Out`, `_`, `_i3`, `_5` hold the history).
_IPYTHON_NAMES = re.compile(r"get_ipython|In|Out|exit|quit|_{1,3}|_i{1,3}|_[iod]h|_i?\d+|"
                            r"__\w+__")


def _taken(name: str) -> str | None:
    """What a variable of this name would hide from later cells (None: nothing): IPython's
    own names (`--out get_ipython` broke every later magic), a dunder (`__builtins__`) or a
    builtin."""
    if _IPYTHON_NAMES.fullmatch(name):
        return f"IPython's {name}, which later cells need"
    if name in vars(builtins):  # IPython adds its own there (display)
        return f"the builtin {name}()" if callable(vars(builtins)[name]) else \
            f"the builtin {name}"
    return None


def check_out_name(name: str) -> None:
    """A UsageError unless `name` is a Python variable name, kept as written and hiding
    nothing later cells need."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise UsageError(f"--out needs a Python variable name, not {name!r}")
    if (read := unicodedata.normalize("NFKC", name)) != name:
        raise UsageError(f"--out {name} is read by Python as {read} (it folds such "
                         f"letters): write --out {read}")
    if whose := _taken(name):
        raise UsageError(f"--out {name} would hide {whose}: pick another name")
