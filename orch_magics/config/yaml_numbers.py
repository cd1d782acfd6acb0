"""Numbers YAML 1.1 (PyYAML) reads otherwise than a person does, refused where they stand."""

from __future__ import annotations

import re

from .source import Path_, Source, describe_path

#: How YAML 1.1 spells an octal integer: a leading zero (`0777` is 511).
_OCTAL = re.compile(r"[-+]?0[0-7_]+")


def refuse_yaml11_number(value: int | float, path: Path_, src: Source) -> None:
    """A number YAML 1.1 reads otherwise than a person does: `max_restarts: 0777` is 511,
    `port: 1:10` is 70 (base 60), `port: 2_2` is 22 (underscores dropped)."""
    written = src.written(path)
    if written is None:
        return
    if isinstance(value, int) and abs(value) >= 8 and _OCTAL.fullmatch(written):
        decimal = written.replace("_", "").lstrip("+-").lstrip("0")  # 00 to 07 mean the same
        raise src.error(path, f"{describe_path(path)}: YAML 1.1 reads {written} as the octal "
                              f"number {value}: write {decimal} (or {value} if octal was meant)")
    if ":" in written or "_" in written:
        how = "the base-60 number" if ":" in written else "the number"
        raise src.error(path, f"{describe_path(path)}: YAML 1.1 reads {written} as {how} "
                              f"{value}: write {value} (or quote it if text was meant)")
