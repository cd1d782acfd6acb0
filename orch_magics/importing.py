"""Importing fast: the package itself at start-up, and a layer kind's SDK on its first use.

An import allocates thousands of objects and frees almost none of them, so the cyclic GC's
passes during it are wasted (~8% of importing orch_magics and asyncssh here): `paused_gc`,
also used while a config is loaded (millions of young objects, none of them cyclic).
asyncssh's import probes for liboqs (post-quantum key exchange) with ctypes.util.find_library,
which on Linux runs `ldconfig -p` and then the C compiler, for two names: ~20 ms of every
first ssh connection. `importing_sdk` answers "absent" at once when no file of that name is
in the dynamic loader's cache or the library directories (any other answer comes from the
real probe), and keeps the secret provider's variables out of the helpers' environment.
"""

from __future__ import annotations

import contextlib
import gc
import glob
import os
import sys
import sysconfig
from collections.abc import Iterator

from .process.environ import without_secret_variables

#: Libraries SDKs probe for at import that are usually not installed (asyncssh: liboqs).
PROBED = ("oqs", "liboqs")
LOADER_CACHE = "/etc/ld.so.cache"
_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection for the duration (as it was, afterwards)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def surely_absent(name: str) -> bool:
    """True when `lib<name>.so` is neither in the loader's cache nor in a library directory
    (so `ctypes.util.find_library(name)` would return None). False when unsure."""
    soname = f"lib{name}.so"
    try:
        with open(LOADER_CACHE, "rb") as cache:
            if soname.encode() in cache.read():
                return False
    except OSError:
        return False
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = [*os.environ.get("LD_LIBRARY_PATH", "").split(":"),
            *os.environ.get("LIBRARY_PATH", "").split(":"),
            *_DIRS, *(os.path.join(d, multiarch) for d in _DIRS if multiarch)]
    return not any(glob.glob(os.path.join(glob.escape(d), glob.escape(soname) + "*"))
                   for d in dirs if d)


@contextlib.contextmanager
def importing_sdk(module: str) -> Iterator[None]:
    """The context to import `module`, which imports a layer SDK, in (see the module
    docstring); nothing to do once it is imported (every launch of a layer enters it)."""
    if module in sys.modules:
        yield
        return
    import ctypes.util

    real = ctypes.util.find_library

    def find_library(name: str) -> str | None:
        return None if name in PROBED and surely_absent(name) else real(name)

    ctypes.util.find_library = find_library
    try:
        with without_secret_variables(), paused_gc():
            yield
    finally:
        ctypes.util.find_library = real
