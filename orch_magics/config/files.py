"""Which config files a load reads: the ones given, $ORCH_CONFIG's, or the working folder's
(`orch.yaml`, else `environments.yaml` and `services.yaml`), each once; and the bundled demo."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import ConfigError
from ..text import printable
from .suggest import misspelt_variable

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"


def found_here(explicit: Sequence[object]) -> bool:
    """Whether a load's files are found in the folder orch runs in rather than named: none
    given, and ORCH_CONFIG unset or naming any relative path (`base.yaml:orch.yaml` with an
    absolute first entry too: review39). Such a config, and all it reads, is judged."""
    if explicit:
        return False
    given = [p for p in os.environ.get("ORCH_CONFIG", "").split(os.pathsep) if p.strip()]
    return not given or not all(os.path.isabs(p) for p in given)


def find_config_files(explicit: Iterable[str | os.PathLike[str]] = (),
                      cwd: str | os.PathLike[str] | None = None) -> list[Path]:
    """Config files in order of precedence: explicit paths, $ORCH_CONFIG, then the working dir
    (`cwd`, when given: relative paths are read from there too, as if orch ran there)."""
    explicit = list(explicit)
    wrong = [p for p in explicit if not isinstance(p, (str, os.PathLike))]
    if wrong:
        raise ConfigError(f"config files are given as paths, one per argument "
                          f"(load_config('a.yaml', 'b.yaml'), orch.load('a.yaml', 'b.yaml'), "
                          f"or *paths), not {type(wrong[0]).__name__}")
    cwd = _checked_cwd(cwd)
    if explicit:
        return _once(explicit, cwd)
    env = os.environ.get("ORCH_CONFIG", "")
    if env:
        given: list[str | os.PathLike[str]] = [p for p in env.split(os.pathsep) if p.strip()]
        if not given:
            raise ConfigError(f"ORCH_CONFIG={env!r} names no file: give paths separated by "
                              f"{os.pathsep!r}, or unset it")
        paths = _once(given, cwd)
        for path in paths:  # config12: said as a file never typed, ./orch.yaml unread
            if not path.is_file():
                what = "is a directory, not a file" if path.is_dir() else "not found"
                raise ConfigError(f"config file {what} (named by ORCH_CONFIG: fix or unset "
                                  f"it, or give -c FILE)", file=os.fspath(path))
        return paths
    try:
        here = Path(cwd if cwd is not None else os.getcwd())
    except FileNotFoundError:  # a folder removed under the shell that stood in it
        raise ConfigError("the working directory no longer exists, so there is no "
                          "./orch.yaml to read: cd to a folder, or give -c FILE or "
                          "ORCH_CONFIG") from None
    if (here / "orch.yaml").is_file():
        return [here / "orch.yaml"]
    pair = [here / "environments.yaml", here / "services.yaml"]
    found = [p for p in pair if p.is_file()]
    if not found:
        raise NoConfig(here)
    for name in ("orch.yml", "environments.yml", "services.yml"):  # config16: not read, and
        if (here / name).is_file() and not (here / f"{name[:-4]}.yaml").is_file():  # unsaid
            fix = (f"rename it {name[:-4]}.yaml" if name != "orch.yml" else  # review31: an
                   "an orch.yaml would be read alone, without them")  # orch.yaml reads alone
            raise ConfigError(f"{name} is in {here} but not read (orch reads "
                              f"{' and '.join(p.name for p in found)} there): {fix}; or "
                              f"give the files you mean with -c")
    return found


def _checked_cwd(cwd: object) -> str | None:
    """`cwd=` as the folder it names, `~` expanded (None, or "": the working directory);
    else a ConfigError (an int or bytes was pathlib's TypeError; `cwd=0` read as the working
    directory)."""
    if cwd is None or cwd == "":
        return None
    if not isinstance(cwd, (str, os.PathLike)) or isinstance(os.fspath(cwd), bytes):
        raise ConfigError(f"cwd= is the folder to look for config files in (a str or a path), "
                          f"not {type(cwd).__name__} {cwd!r}")
    folder = os.path.expanduser(os.fspath(cwd))
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise ConfigError(f"cwd={os.fspath(cwd)!r} {what}: give the folder to look for config "
                          f"files in")
    return str(folder)


def _has_cwd() -> bool:
    """Whether the working directory still exists (removed, it has no path)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return False
    return True


def _once(given: list[str | os.PathLike[str]],
          cwd: str | os.PathLike[str] | None = None) -> list[Path]:
    """Each file once, at its first place (`-c a.yaml -c a.yaml` said that every environment
    of it was defined twice, pointing at one line), `~` expanded, a relative one read from
    `cwd` when given; an empty path is said as one (it read as the directory `.`), a symlink
    loop as a file that cannot be read."""
    if any(not os.fspath(p) for p in given):
        raise ConfigError("a config file path is empty: give a file")
    seen: set[Path] = set()
    paths = []
    for path in (Path(cwd or "", os.path.expanduser(p)) for p in given):  # no shell: `~` in a
        if not path.is_absolute() and not _has_cwd():  # (review42: an internal error)
            raise ConfigError(f"the working directory no longer exists, so there is no "
                              f"{printable(os.fspath(path))} to read: cd to a folder, or give "
                              f"an absolute path")
        try:  # notebook line, an API call or a quoted ORCH_CONFIG
            where = path.resolve()
            path.stat()  # a NUL in it is a ValueError here, not later in a raw traceback
        except FileNotFoundError:
            where = path.absolute()  # said as not found where it is read
        except (OSError, RuntimeError, ValueError) as exc:  # a loop: RuntimeError before 3.13
            raise ConfigError(f"cannot read config file {printable(os.fspath(path))}: {exc}"
                              ) from None
        if where not in seen:
            seen.add(where)
            paths.append(path)
    return paths


class NoConfig(ConfigError):
    """Nothing was given and nothing found: says how to give files in a front end's words
    (`how`; the API's by default), and names a set variable spelt near ORCH_CONFIG."""

    def __init__(self, here: Path,
                 how: str = "give files with load_config(FILE, …) or Orchestrator(FILE)") -> None:
        self.here, self.how = here, how
        near = next((f" ({name} is there: did you mean orch.yaml?)" for name in
                     ("orch.yml", "Orch.yaml", "orch.yaml.yaml", "orch.YAML")
                     if (here / name).is_file()), "")
        super().__init__(f"no configuration found: {how}, set ORCH_CONFIG, or put orch.yaml "
                         f"(or environments.yaml and services.yaml) in {here}"
                         f"{near}{misspelt_variable('ORCH_CONFIG')}")

    def __reduce__(self) -> tuple[type[NoConfig], tuple[Path, str]]:
        """Pickled as what it was made of (its message is made, not given)."""
        return NoConfig, (self.here, self.how)

    def said(self, how: str) -> NoConfig:
        """The same error, with how to give files in another front end's words."""
        return NoConfig(self.here, how)


def demo_config_files() -> list[Path]:
    """The bundled demo configuration (local environments only, no servers needed)."""
    return [DEMO_DIR / "orch.yaml"]
