"""The "Python 3 (orch)" kernel spec: ipykernel with the orch_magics extension preloaded.

Install it with one command (into the current virtualenv, the user's directory, or a prefix):

    python -m orch_magics.kernelspec install --sys-prefix
    python -m orch_magics.kernelspec install --user
    python -m orch_magics.kernelspec install --prefix /opt/conda

and remove it with the same option: `python -m orch_magics.kernelspec remove --sys-prefix`
(without one, both mean the system-wide folder, /usr/local/share/jupyter/kernels). Jupyter
keeps kernel names in lower case: `--name Orch-3` is the spec `orch-3`, for both.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from typing import Any, NoReturn

NAME = "orch"
DISPLAY_NAME = "Python 3 (orch)"
#: A kernel's name: what jupyter_client takes (it refuses others, or, for '', installs under
#: the temporary folder's name), but not '.' or '..' (the kernels folder or its parent).
VALID_NAME = re.compile(r"(?!\.+$)[a-z0-9._-]+", re.IGNORECASE)


def kernel_json(python: str | None = None) -> dict[str, Any]:
    """The kernel.json: the ipykernel launcher argv plus `--ext=orch_magics`."""
    return {
        "argv": [python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--ext=orch_magics"],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True},
    }


def install(*, user: bool = False, prefix: str | None = None, name: str = NAME,
            python: str | None = None) -> str:
    """Install the spec; returns the directory it was written to."""
    from jupyter_client.kernelspec import KernelSpecManager

    name = check_name(name)
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        with open(os.path.join(tmp, "kernel.json"), "w") as f:
            json.dump(kernel_json(python), f, indent=1)
        _copy_logos(tmp)
        return KernelSpecManager().install_kernel_spec(tmp, name, user=user, prefix=prefix)


def remove(name: str = NAME, *, user: bool = False, prefix: str | None = None) -> str:
    """Remove the spec from where `install` put it with the same options (without `user` or
    `prefix`: the system-wide folder); returns its directory."""
    import shutil

    from jupyter_client.kernelspec import NoSuchKernel
    from jupyter_core.paths import SYSTEM_JUPYTER_PATH, jupyter_data_dir

    name = check_name(name)
    base = jupyter_data_dir() if user else SYSTEM_JUPYTER_PATH[0] if not prefix else \
        os.path.join(prefix, "share", "jupyter")  # `not prefix`, as install's jupyter_client
    path = os.path.join(base, "kernels", name)
    if not os.path.isdir(path):
        raise NoSuchKernel(name)
    shutil.rmtree(path)
    return path


def _copy_logos(dest: str) -> None:
    """Reuse ipykernel's logos so the launcher shows a Python icon."""
    try:
        from ipykernel.kernelspec import RESOURCES
    except ImportError:
        return
    import shutil

    for logo in ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg"):
        src = os.path.join(RESOURCES, logo)
        if os.path.exists(src):
            shutil.copy(src, dest)


class _Parser(argparse.ArgumentParser):
    """argparse whose mistakes read `… (did you mean 'install'?)` and exit 2."""

    #: The options of install and remove (set by main): what a mistyped option may mean.
    options: tuple[str, ...] = ()

    def error(self, message: str) -> NoReturn:
        from .config.suggest import did_you_mean, option_hint

        wrong = re.search(r"invalid choice: '([^']*)'", message)
        guess = did_you_mean(wrong.group(1), ("install", "remove")) if wrong else None
        if wrong:
            message = (f"unknown subcommand {wrong.group(1)!r}"
                       + (f" (did you mean {guess!r}?)" if guess else " (install or remove)"))
        unknown = re.match(r"unrecognized arguments: (-\S+)", message)
        near = option_hint(unknown.group(1).split("=")[0], self.options) if unknown else None
        if near:  # `--usr` → --user, `--sys-prefx` → --sys-prefix
            message += f" (did you mean {near!r}?)"
        self.exit(2, f"{self.prog}: {message}\n")


def check_name(name: str) -> str:
    """`name` when Jupyter can use it as a kernel's name (a folder under kernels/); else a
    ValueError (`remove(name='..')` would remove the folder above the kernels)."""
    if not isinstance(name, str) or not VALID_NAME.fullmatch(name):
        raise ValueError(f"invalid kernel name {name!r}: use letters, digits, '.', '_' and '-' "
                         f"(not only dots)")
    return name.lower()  # as Jupyter keeps it


def main(argv: list[str] | None = None) -> int:
    """The command line; every mistake is one line on stderr (exit 2, or 1 when the file
    system refuses)."""
    parser = _Parser(prog="python -m orch_magics.kernelspec",
                     description=f"Install the {DISPLAY_NAME!r} kernel spec.")
    sub = parser.add_subparsers(dest="action", required=True, parser_class=_Parser)
    for action, word, text in (("install", "into", "install (or replace) the kernel spec"),
                               ("remove", "from", "remove the kernel spec")):
        one = sub.add_parser(action, help=text)
        _where(one, word)
        one.add_argument("--name", default=NAME, help=f"kernel name (default {NAME})")
        _Parser.options = tuple(o for a in one._actions  # private-ok: argparse lists no options
                                for o in a.option_strings if o not in ("-h", "--help"))
    args = parser.parse_args(argv)
    try:
        args.name = check_name(args.name)
    except ValueError as exc:
        parser.error(f"{args.action} --name: {exc}")
    prefix = sys.prefix if args.sys_prefix else args.prefix
    from jupyter_client.kernelspec import NoSuchKernel

    try:
        if args.action == "install":
            path = install(user=args.user, prefix=prefix, name=args.name)
            print(f"installed kernel spec {args.name!r} ({DISPLAY_NAME}) in {path}")
        else:
            print(f"removed kernel spec from {remove(args.name, user=args.user, prefix=prefix)}")
    except NoSuchKernel:
        print(f"no kernel spec named {args.name!r} there", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"cannot {args.action} the kernel spec: {exc.strerror or exc}{where}",
              file=sys.stderr)
        return 1
    return 0


def _where(parser: argparse.ArgumentParser, word: str) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help=f"{word} ~/.local/share/jupyter")
    where.add_argument("--sys-prefix", action="store_true",
                       help=f"{word} {sys.prefix} (the current virtualenv)")
    where.add_argument("--prefix", help=f"{word} PREFIX/share/jupyter")


if __name__ == "__main__":
    sys.exit(main())
