"""What a layer accepts as the name of its target (an ssh host, a container).

Checked when a config loads, so `orch check` catches a name no run could reach: before, an
empty host or one with a stray space passed the check and failed only when a run tried to
resolve it, and a name starting with `-` reads as an option to every ssh and docker tool.
"""

from __future__ import annotations


def check_target_name(name: str, *, ranges: bool = True, key: str = "host") -> None:
    """Raise ValueError (a config check) unless `name` can name a host or a container (`key`:
    the setting it was written in); `ranges`: where a name may be a range (`web-[01:12]`), a
    bracket says how one is written."""
    if not name:
        raise ValueError("the name is empty")
    if "{{" in name:  # its labels, patterns and address are read when the config loads
        raise ValueError("a host or container name is written as it is: a {{…}} placeholder "
                         "is not expanded in it")
    bad = next((c for c in name if c.isspace() or not c.isprintable()), None)
    if bad is not None:  # a space, a control or an invisible one (U+200B): never in a name
        what = "a space" if bad == " " else f"the character {bad!r}"
        raise ValueError(f"it has {what}: a host or container name has none")
    if name.startswith("-"):
        raise ValueError("it starts with '-': a host or container name never does")
    check_unquoted(name, "a host or container name")
    if "[" in name or "]" in name:  # a range is expanded before names are checked
        hint = " (a range is written [01:12] or [a:f])" if ranges else ""
        raise ValueError(f"it has {'[' if '[' in name else ']'!r}: a host or container name "
                         f"has none{hint}")
    check_no_slash(name)
    glob = next((c for c in name if c in "*?,"), None)
    if glob is not None:  # `--limit` reads these as a pattern or a list: no limit could name it
        raise ValueError(f"it has {glob!r}: a host or container name has none (to pick some "
                         f"targets, list them, or use --limit with a pattern)")
    if "@" in name:  # `ssh user@host` written as a host
        user, _, host = name.rpartition("@")
        host, colon, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
        port = f", port: {port}" if colon and port.isdecimal() else ""  # config15: `:2222`
        hint = f" (a user is its own setting: host: {host}{port}, user: {user})" if user and \
            host else ""
        raise ValueError(f"it has '@': a host or container name has none{hint}")
    if "=" in name:  # `docker app=web`: a label written as a container
        raise ValueError("it has '=': a host or container name has none (a label is its own "
                         "setting: label: KEY=VALUE)")
    if ":" in name and not _ipv6(name):
        hint = _colon_hint(name) if key == "host" else (
            " (a container is named by its name or id, not by an image NAME:TAG)")
        raise ValueError(f"it has ':': a host or container name has none{hint}")
    if key == "host":
        _check_not_octal(name, ranges)


def _check_not_octal(name: str, ranges: bool) -> None:
    """A zero-padded IPv4 part (a range's `10.0.0.[001:020]`) is octal to the resolver: `010`
    reached 10.0.0.8, under the label `10.0.0.010` (fleets29), and `008` was said as a DNS
    failure."""
    parts = name.split(".")
    if len(parts) > 4 or not all(p.isascii() and p.isdigit() for p in parts) or \
            not any(len(p) > 1 and p.startswith("0") for p in parts):
        return
    import socket

    try:
        read = f"reads it as {socket.inet_ntoa(socket.inet_aton(name))}"
    except OSError:
        read = "finds no address in it"
    written = ".".join(str(int(p)) for p in parts)
    raise ValueError(f"a part with a leading 0 is octal to the resolver, which {read}: write "
                     f"{written}" + (" (and a range unpadded: [8:12], not [008:012])"
                                     if ranges else ""))


#: What a shell reads as more than a name: ssh_config's ProxyCommand puts a host (`%h`) and a
#: user (`%r`) into a command line, which one that calls a shell (`bash -c '… %h'`) runs: an
#: inventory's `ansible_host="x$(reboot)"` ran on this machine. Refused as OpenSSH 9.6 does
#: (CVE-2023-51385): in a host all of them; in a user all but `$` and a `\` before its end
#: (Samba's `host$`, Windows' `DOMAIN\user`).
HOST_SHELL_CHARACTERS = "'`\"$\\;&<>|(){}"
USER_SHELL_CHARACTERS = "'`\";&<>|(){}"


def check_unquoted(name: str, what: str, characters: str = HOST_SHELL_CHARACTERS) -> None:
    """Raise ValueError if `name` holds one of `characters`, which a shell would read."""
    bad = next((c for c in name if c in characters), None)
    if bad is not None:
        raise ValueError(f"it has {bad!r}: {what} has none (a shell would read it where the "
                         f"name is put into a command line, as ssh_config's ProxyCommand does)")


def shown_user(name: str) -> None:
    """Refuse a `{{secret:…}}` in a user name: every kind shows it (sshd's process title on
    the target, `sshd: NAME@notty`; sudo's command line; an engine's exec record), where any
    process sees it (safety17: an ssh user was accepted and shown)."""
    from ..process.environ import PLACEHOLDER

    if any(m[1] == "secret" for m in PLACEHOLDER.finditer(name)):
        raise ValueError("a user name is shown on the process list or command line where it "
                         "is used: write the name, not a {{secret:…}} placeholder")


def check_login_name(name: str, *, placeholders: bool = True) -> None:
    """Raise ValueError unless `name` can be an ssh login: no space, control character,
    leading '-' or shell character, no secret. `placeholders`: as written, its {{…}}
    placeholders aside (what they give is checked when a run is planned, with
    `placeholders=False`)."""
    if placeholders and "{{" in name:
        from ..process.environ import PLACEHOLDER

        shown_user(name)
        name = PLACEHOLDER.sub("", name)
        if not name:
            return  # a written "" is refused as every empty setting is
    if any(c.isspace() or not c.isprintable() for c in name):
        raise ValueError("it has a space or a control character: a user name has none")
    if name.startswith("-"):
        raise ValueError("it starts with '-': a user name never does")
    check_unquoted(name, "a user name", USER_SHELL_CHARACTERS)
    if name.endswith("\\"):  # a last `\` escapes what the command line has after it
        check_unquoted("\\", "a user name", "\\")


def check_given_login(name: str) -> None:
    """What a placeholder gave as an ssh login, checked as a login written there would be."""
    check_login_name(name, placeholders=False)


def _ipv6(name: str) -> bool:
    """Whether `name` is an IPv6 address (`fe80::1%eth0` with its zone), the one name with ':'."""
    import ipaddress  # only for a name with a ':'

    try:
        ipaddress.IPv6Address(name)
    except ValueError:
        return False
    return True


def _colon_hint(name: str) -> str:
    """What a name with ':' was likely meant as: Ansible's host:port, or an inventory group
    with its prefix misspelt (`groups:web`)."""
    head, _, tail = name.rpartition(":")
    if tail.isdigit() and head and ":" not in head:
        return f" (an ssh port is its own setting: host: {head}, port: {tail})"
    import difflib

    prefix, _, group = name.partition(":")
    if difflib.get_close_matches(prefix.lower(), ["group"], cutoff=0.6):
        return f" (did you mean 'group:{group}', an inventory group?)"
    return ""


def check_no_slash(name: str) -> None:
    """A fleet target's label joins its hops' names with '/': a name with one would read as
    two hops (and could equal another target's label)."""
    if "/" in name:
        raise ValueError("it has '/': a host or container name has none (a fleet target's "
                         "label joins its hops' names with '/')")


def check_label_part(what: str, name: str) -> None:
    """A host's name becomes a fleet target's label, a group's is matched by `--limit` and
    said in its errors: neither may hold a control character (a name with a newline forged a
    line of a report: files6, files7). (A `/` is refused only in a host an environment
    names: Ansible's chroot hosts are named by a path.)"""
    bad = next((c for c in name if not c.isprintable()), None)
    if bad is not None:
        raise ValueError(f"{what} name {name!r} has the character {bad!r}: names are shown "
                         f"one per line in reports")
