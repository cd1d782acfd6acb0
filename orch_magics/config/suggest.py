"""Did-you-mean: the nearest known name to a misspelt one."""

from __future__ import annotations

import os
from collections.abc import Iterable


def edit_distance(a: str, b: str, bound: int | None = None) -> int:
    """Damerau-Levenshtein distance (adjacent transpositions count as one edit). With `bound`,
    a distance above it is reported as bound + 1, found sooner: only the cells within `bound`
    of the diagonal are computed, and a row all above it ends the search (a typo checked
    against 100,000 fleet targets, or a 5,000-character name, is answered at once)."""
    big = max(len(a), len(b)) + 1 if bound is None else bound + 1
    if abs(len(a) - len(b)) >= big:
        return big
    prev2: list[int] = []
    prev = [min(j, big) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        lo, hi = max(1, i - big + 1), min(len(b), i + big - 1)
        cur = [big] * (len(b) + 1)
        cur[0] = min(i, big)
        for j in range(lo, hi + 1):
            cb = b[j - 1]
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, prev2[j - 2] + 1)
            cur[j] = min(value, big)
        if min(cur[lo - 1:hi + 1]) >= big:
            return big
        prev2, prev = prev, cur
    return prev[-1]


def did_you_mean(name: str, candidates: Iterable[str], max_distance: int = 3) -> str | None:
    """The closest candidate within `max_distance` edits (case-insensitive), or None."""
    best: tuple[int, str] | None = None
    lowered = name.lower()
    for cand in candidates:
        other = cand.lower()
        if other == lowered:
            return cand
        limit = min(max_distance, max(1, len(cand) // 2))
        if best is not None:
            limit = min(limit, best[0] - 1)  # only a nearer one changes the answer
        d = edit_distance(lowered, other, limit)
        if d <= limit:
            best = (d, cand)
    return best[1] if best else None


#: Keys people write for one spelt otherwise here, beyond a few typos' reach (`env`, `workdir`
#: ↔ `working_dir`, `hostname`): written lower case without `_` or `-`; the first of the keys
#: it may mean that the mapping has is suggested.
SYNONYMS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("env", "envs", "environ", "envvars", "variables", "vars"),
                    ("environment", "environments")),
    **dict.fromkeys(("workdir", "workingdir", "cwd", "dir", "directory", "chdir"),
                    ("working_dir", "workdir")),
    **dict.fromkeys(("hostname", "hostaddr", "address", "addr", "server"), ("host",)),
    **dict.fromkeys(("username", "login", "loginuser", "remoteuser"), ("user",)),
    **dict.fromkeys(("cmd", "run", "exec", "script", "commandline", "argv", "args"),
                    ("command", "argv")),
    **dict.fromkeys(("pass", "passwd", "pw"), ("password",)),
    **dict.fromkeys(("key", "keyfile", "privatekey", "identity", "sshkey", "identityfiles"),
                    ("identity_file",)),
    **dict.fromkeys(("pre", "before", "setup"), ("pre_commands",)),
    **dict.fromkeys(("post", "after", "teardown", "cleanup"), ("post_commands",)),
    **dict.fromkeys(("dockerhost", "engine", "socket"), ("docker_host",)),
    **dict.fromkeys(("kind", "layer"), ("type",)),
    **dict.fromkeys(("settings", "options", "cfg", "conf", "params"), ("config",)),
    # config12: a filter's, the audit's, the secrets file's and a container's usual other names
    **dict.fromkeys(("regex", "regexp", "re", "match", "expr", "expression"),
                    ("pattern", "query")),
    **dict.fromkeys(("filter", "program", "jq", "jqfilter"), ("query",)),
    **dict.fromkeys(("n", "count", "num", "number", "limit", "max"), ("lines",)),
    **dict.fromkeys(("with", "by", "to", "replace", "replacewith", "substitute", "sub"),
                    ("replacement",)),
    **dict.fromkeys(("file", "filename", "logfile", "log", "logpath"), ("path", "file")),
    "path": ("file",),
    **dict.fromkeys(("name", "containername", "image", "id", "containerid", "ctr"),
                    ("container",)),
}
#: The usual other names of a fixed set's values (a filter's `type`: the tools users reach
#: for), kept apart from the keys' (review21: `sub` meant both, and the key's was lost).
VALUE_SYNONYMS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("sed", "sub", "substitute", "tr", "rewrite"), ("replace",)),
    **dict.fromkeys(("egrep", "fgrep", "rg", "ripgrep", "search", "find"), ("grep",)),
}
#: A key that starts another (`identity` → identity_file), or that another starts (`hostname`
#: → host), is suggested when the shorter of the two has at least this many characters.
MIN_PREFIX = 4


def name_hint(name: str, known: Iterable[str]) -> str | None:
    """Did-you-mean for an environment or service name: a near spelling, else the one name it
    starts (`prod` → production, `health` → health-check) or that starts it."""
    names = list(known)
    return did_you_mean(name, names) or _one_prefix(name, names)


def option_hint(word: str, options: Iterable[str]) -> str | None:
    """Did-you-mean for an unknown option: the one option it abbreviates (`--fail` → --failed,
    not the nearer --tail: the magic takes no abbreviation), else as `name_hint`."""
    names = list(options)
    if len(word) == 2 and word[0] == "-":  # one letter: only its other case is near (-C, -c)
        return next((o for o in names if o.lower() == word.lower()), None)
    if len(word.lstrip("-")) == 1:  # `--t`: the one long option it starts, not `-e` (config12)
        starts = [o for o in names if o.startswith("--" + word.lstrip("-"))]
        return starts[0] if len(starts) == 1 else None
    longer = [o for o in names if len(word) >= MIN_PREFIX and o.startswith(word)]
    if len(longer) == 1:
        return longer[0]
    bare = {o.lstrip("-"): o for o in reversed(names)}  # dashes are no part of a likeness:
    near = did_you_mean(word.lstrip("-"), bare)  # `--yes` is not near `--help`
    return bare[near] if near else _one_prefix(word, names)


def _one_prefix(key: str, known: list[str]) -> str | None:
    """The one known name `key` starts or is started by (both of at least MIN_PREFIX)."""
    low = key.lower()
    starts = [k for k in known if min(len(k), len(low)) >= MIN_PREFIX
              and (k.lower().startswith(low) or low.startswith(k.lower()))]
    return starts[0] if len(starts) == 1 else None


def value_hint(value: str, known: Iterable[str]) -> str | None:
    """Did-you-mean for a value of a fixed set (a filter's type): a near spelling, else the
    one its usual other name means (`sed` → replace, not the nearer `head`)."""
    names = list(known)
    plain = value.lower().replace("_", "").replace("-", "")
    meant = [k for k in VALUE_SYNONYMS.get(plain, ()) if k in names]
    return meant[0] if meant else did_you_mean(value, names)


def key_hint(key: str, known: Iterable[str]) -> str | None:
    """Did-you-mean for a mapping's unknown key: a near spelling, else a known synonym (`env`
    → environment), else the one key it is a prefix of, or that is a prefix of it."""
    keys = [k for k in known if isinstance(k, str)]
    if not isinstance(key, str):
        return None
    if key[:2] in ("x_", "x.", "X-", "X_"):  # an extension key (a note, an anchor) spelt wrong
        return "x-" + key[2:]
    near = did_you_mean(key, keys)
    if near is not None:
        return near
    plain = key.lower().replace("_", "").replace("-", "")
    meant = [k for k in SYNONYMS.get(plain, ()) if k in keys]
    if meant:
        return meant[0]
    return _one_prefix(key, keys)


#: The variables orch reads (`ORCH_SECRET_<NAME>` aside, which are the user's own names).
VARIABLES = ("ORCH_CONFIG", "ORCH_CONFIRM", "ORCH_DEBUG", "ORCH_LOG_DIR")


def misspelt_variable(name: str) -> str:
    """` (ORCH_CONFG is set: did you mean ORCH_CONFIG?)` when a set variable orch does not
    read is spelt nearest to `name` of those it does (else ''): said where `name` was missed.
    Only names that start as orch's do (`ORCH`, any case): `TORCH_CONFIG` is another tool's."""
    for var in os.environ:
        if (var.upper().startswith("ORCH") and var not in VARIABLES
                and did_you_mean(var, VARIABLES) == name):
            return f" ({var} is set: did you mean {name}?)"
    return ""
