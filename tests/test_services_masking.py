"""Masking derived forms: wrapped base64 at any alignment and width, split across chunks.

`echo "$S" | base64` wraps its output at 76 columns, so a secret of 58 characters or more used
to print in clear. The checks feed the real `base64` program's output, and synthetic wrapped
encodings cut at every position, through the stream masker and the one-shot maskers, and a
real run's every sink.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from orch_magics import OrchError, Orchestrator, RunResult, load_config_text
from orch_magics.process.events import Exit, Stderr, Stdout
from orch_magics.secrets.masking import MASK, SecretRegistry
from orch_magics.secrets.stream import StreamMasker
from streams import Recorder
from test_services_secrets import leaks_encoded, secret_chars

Encode = Callable[[bytes], bytes]
ENCODERS: dict[str, Encode] = {"std": base64.b64encode, "url": base64.urlsafe_b64encode}


def make_secret(length: int, seed: int = 7) -> str:
    rng = random.Random(seed * 1000 + length)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/+=-_!@%~"
    return "".join(rng.choice(alphabet) for _ in range(length))


def wrapped(data: bytes, encode: Encode, width: int, eol: bytes) -> bytes:
    text = encode(data)
    return b"".join(text[i:i + width] + eol for i in range(0, len(text), width))


def through_masker(registry: SecretRegistry, chunks: list[bytes]) -> bytes:
    masker = StreamMasker(registry)
    events = [e for chunk in chunks for e in masker(Stdout(chunk))] + masker(Exit(code=0))
    return b"".join(e.data for e in events if isinstance(e, Stdout))


def assert_masked(secret: str, original: bytes, masked: bytes) -> None:
    text = masked.decode()
    assert secret not in text
    assert not leaks_encoded(secret, text), text
    assert MASK in text
    # masking keeps the line structure: the same line breaks, in the same order
    assert [c for c in text if c in "\r\n"] == [c for c in original.decode() if c in "\r\n"]


@pytest.mark.parametrize("length", [4, 20, 57, 58, 59, 100, 300])
@pytest.mark.parametrize("offset", [0, 1, 2, 4])
@pytest.mark.parametrize("width", [64, 76])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("alphabet", ENCODERS)
def test_wrapped_base64_is_masked_whole_and_split(length: int, offset: int, width: int,
                                                  eol: bytes, alphabet: str) -> None:
    secret = make_secret(length)
    registry = SecretRegistry()
    registry.add(secret)
    data = b"p" * offset + secret.encode() + b"\n"
    output = b"before\n" + wrapped(data, ENCODERS[alphabet], width, eol) + b"after\n"
    assert_masked(secret, output, registry.mask_bytes(output))
    assert_masked(secret, output, registry.mask_text(output.decode()).encode())
    step = 1 if length in (58, 100) else 5  # every cut for some, a spread for the others
    for cut in range(0, len(output), step):
        assert_masked(secret, output, through_masker(registry, [output[:cut], output[cut:]]))


def test_secrets_that_overlap_in_the_output_are_masked_whole() -> None:
    """basics11: `abcdXYZ1` and `XYZ1wxyz9876` printed as `abcdXYZ1wxyz9876` came out as
    `****wxyz9876`: matched one after the other, the second's rest was shown. Also when the
    output comes in pieces cut anywhere."""
    registry = SecretRegistry()
    registry.add("abcdXYZ1")
    registry.add("XYZ1wxyz9876")
    output = b"a abcdXYZ1wxyz9876 b XYZ1wxyz9876abcdXYZ1 c\n"
    want = b"a **** b ******** c\n"  # two that only touch: two masks
    assert registry.mask_bytes(output) == want
    assert registry.mask_text(output.decode()) == want.decode()
    for cut in range(len(output)):
        assert through_masker(registry, [output[:cut], output[cut:]]) == want, cut
    # review20: a secret holding another (a URL and its password), cut anywhere
    registry.add("postgres://app:Xk9fPq2Lw@db.internal:5432/prod")
    registry.add("Xk9fPq2Lw")
    output = b"url=postgres://app:Xk9fPq2Lw@db.internal:5432/prod\n"
    assert registry.mask_bytes(output) == b"url=****\n"
    for cut in range(len(output)):
        assert through_masker(registry, [output[:cut], output[cut:]]) == b"url=****\n", cut


def test_base64_in_tiny_chunks_is_masked() -> None:
    secret = make_secret(90)
    registry = SecretRegistry()
    registry.add(secret)
    output = wrapped(b"key: " + secret.encode(), base64.b64encode, 76, b"\r\n")
    chunks = [output[i:i + 3] for i in range(0, len(output), 3)]
    assert_masked(secret, output, through_masker(registry, chunks))


@pytest.mark.parametrize("length", [30, 58, 64, 200])
@pytest.mark.parametrize("prefix", ["", "x", "xy", "user:"])
@pytest.mark.parametrize("command", ["base64", "base64 -w 64", "base64 -w 0", "openssl base64"])
def test_output_of_real_encoders_is_masked(length: int, prefix: str, command: str) -> None:
    secret = make_secret(length, seed=3)
    registry = SecretRegistry()
    registry.add(secret)
    output = subprocess.run(command.split(), input=(prefix + secret + "\n").encode(),
                            capture_output=True, check=True).stdout
    assert_masked(secret, output, through_masker(registry, [output]))
    assert_masked(secret, output, registry.mask_bytes(output))


@pytest.mark.parametrize("length", [8, 30, 64])
@pytest.mark.parametrize("command", ["iconv -t UTF-16LE", "iconv -t UTF-16BE", "xxd -p",
                                     "xxd -p -u", "od -An -tx1", "python3 -c import sys;"
                                     "print(sys.stdin.buffer.read().hex())"])
def test_a_secret_in_utf16_or_hex_is_masked(length: int, command: str) -> None:
    """safety16: a secret in UTF-16 output (a terminal drops its NULs and shows the plain
    text) or in hex (`xxd -p`, `od -tx1`, `.hex()`) went out whole."""
    secret = make_secret(length, seed=5)
    registry = SecretRegistry()
    registry.add(secret)
    argv = command.split(" ", 2) if command.startswith("python3") else command.split()
    output = subprocess.run(argv, input=("id=" + secret).encode(), capture_output=True,
                            check=True).stdout
    for masked in (through_masker(registry, [output]), registry.mask_bytes(output)):
        seen = masked.replace(b"\0", b"").decode("ascii", "replace")  # as a terminal shows it
        assert secret not in seen and MASK in seen, (command, seen)
        assert secret.encode().hex() not in "".join(seen.lower().split()), (command, seen)


def test_ordinary_lines_are_not_held_back() -> None:
    """Only an end that may begin a secret waits for the next chunk; line endings of ordinary
    text never do, even when the line ends with a character a wrapped form starts with."""
    secret = make_secret(80)
    registry = SecretRegistry()
    registry.add(secret)
    starts = {f[:1] for f in registry.forms.encoded}  # type: ignore[union-attr]
    masker = StreamMasker(registry)
    for first in sorted(starts):
        for line in (b"done " + first + b"\n", b"ok" + first + b"\r\n", b"result: " + first + b"\n"):
            assert masker(Stdout(line)) == [Stdout(line)], line
    # a long line of base64 characters may be wrapped output: its end waits
    wide = b"Q" * 70 + sorted(starts)[0] + b"\n"
    released = b"".join(e.data for e in masker(Stdout(wide)))  # type: ignore[attr-defined]
    assert wide.startswith(released) and len(released) < len(wide)


def test_a_line_held_back_goes_before_what_the_other_stream_says_next() -> None:
    """notebook16: `b=SECRET\\n` looks like the start of wrapped base64, so it was held; the
    stderr line the program wrote after it came first, and the live view cut `b=` from its
    `****`. A held line is released (masked) when the other stream speaks; an end without its
    line break stays held."""
    registry = SecretRegistry()
    registry.add("Fil3Secret-XYZ")
    masker = StreamMasker(registry)
    said = [*masker(Stdout(b"b=Fil3Secret-XYZ\n")), *masker(Stderr(b"err line\n")),
            *masker(Stdout(b"done\n"))]
    assert [(type(e).__name__, e.data) for e in said if e.data] == [  # type: ignore[attr-defined]
        ("Stdout", b"b="), ("Stdout", b"****\n"), ("Stderr", b"err line\n"),
        ("Stdout", b"done\n")]
    cut = [*masker(Stdout(b"Fil3Sec")), *masker(Stderr(b"x\n")), *masker(Stdout(b"ret-XYZ\n"))]
    assert b"".join(e.data for e in cut if isinstance(e, Stdout)) == b"****\n"


@pytest.mark.parametrize("width", [64, 76])
def test_a_wrapped_form_cut_at_its_line_break_stays_masked_when_stderr_speaks(width: int) -> None:
    """review24: the first line of a wrapped base64 form, held across its line break, was
    released in clear when a stderr chunk came between the two stdout chunks; the rest then
    matched nothing and went out in clear too."""
    secret = make_secret(97)
    registry = SecretRegistry()
    registry.add(secret)
    encoded = base64.b64encode(secret.encode()).decode()
    lines = [encoded[i:i + width] for i in range(0, len(encoded), width)]
    masker = StreamMasker(registry)
    said = [*masker(Stdout(lines[0].encode() + b"\n")), *masker(Stderr(b"warning\n")),
            *masker(Stdout("\n".join(lines[1:]).encode() + b"\n")), *masker.flush()]
    shown = b"".join(e.data for e in said if isinstance(e, Stdout))  # type: ignore[attr-defined]
    assert all(line.encode() not in shown for line in lines), shown


@pytest.mark.parametrize("value", ['quote"and\\backslash', "line one\nline two", "naïve café ✓"])
def test_escaped_forms_are_masked(value: str) -> None:
    registry = SecretRegistry()
    registry.add(value)
    for text in (json.dumps({"v": value}), json.dumps(value, ensure_ascii=False),
                 f"error: {value!r}", repr([value])):
        masked = registry.mask_text(text)
        assert MASK in masked and value not in masked, (text, masked)
        for form in (json.dumps(value)[1:-1], repr(value)[1:-1]):
            assert form not in masked


GO_JSON = str.maketrans({"&": "\\u0026", "<": "\\u003c", ">": "\\u003e"})


@pytest.mark.parametrize("value", ["Db/p&ss<w0rd>", "ab/cd/ef", "x&y<z>é/"])
def test_json_as_go_and_php_write_it_is_masked(value: str) -> None:
    """Only Python's json.dumps escapes were known: a secret in JSON from Go's encoding/json
    (`&` as \\u0026) or PHP's json_encode (`/` as \\/, non-ASCII as \\u00e9) was shown as
    it was printed (services tester #1)."""
    registry = SecretRegistry()
    registry.add(value)
    php = json.dumps(value).replace("/", "\\/")
    go = json.dumps(value, ensure_ascii=False).translate(GO_JSON)
    for text in (php, go, json.dumps(value).translate(GO_JSON).replace("/", "\\/")):
        masked = registry.mask_text(f'{{"a":{text}}} and {text} again')
        assert masked == '{"a":"****"} and "****" again', (text, masked)


@pytest.mark.parametrize(("value", "written"), [
    ("Ab+cd&ef=gh/ij", '"Ab\\u002Bcd\\u0026ef=gh/ij"'),  # .NET's System.Text.Json
    ("Ab+cd&ef=gh/ij", '"Ab+cd\\u0026ef\\u003dgh/ij"'),  # Gson
    ("pässwörd<1>", '"p\\u00E4ssw\\u00F6rd\\u003C1\\u003E"'),  # upper-case hex (.NET)
    ("pässwörd<1>", '"p\\u00e4ssw\\u00f6rd\\u003C1\\u003E"'),  # PHP's JSON_HEX_TAG
    ('it\'s "x"', '"it\\u0027s \\u0022x\\u0022"'),  # quotes as .NET writes them
])
def test_json_as_dotnet_and_gson_write_it_is_masked(value: str, written: str) -> None:
    """Review: .NET (`+` as \\u002B, upper-case hex) and Gson (`=` as \\u003d) kept secrets in
    clear: `+` and `=` are in most base64-shaped secrets."""
    registry = SecretRegistry()
    registry.add(value)
    assert registry.mask_text(f'{{"pw":{written}}}') == '{"pw":"****"}'


@pytest.mark.parametrize("value", ["wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "it's-a-s3cret",
                                   "pässwörd-Zürich-77", "a/b+c=d&e<f> 'q'"])
def test_python_and_url_forms_are_masked(value: str) -> None:
    """security tester: `quote()` (which keeps `/`), lower-case percent-encoding, a `'`
    written `\\'` in the repr of a text that also holds a `"`, `ascii()` and a bytes repr
    printed the secret in clear."""
    from urllib.parse import quote, quote_plus
    registry = SecretRegistry()
    registry.add(value)
    raw = value.encode()
    def lower(text: str) -> str:
        return re.sub("%[0-9A-F]{2}", lambda m: m[0].lower(), text)

    for text in (quote(value), lower(quote(value)), lower(quote_plus(value, safe="")),
                 repr({"cmd": f'curl -d "pw={value}"'}), repr(raw), repr(raw + b'"'),
                 ascii(value), ascii(value + '"'), repr(value + "\U0001f600")):
        masked = registry.mask_text(f"[{text}]")
        assert MASK in masked and value not in masked and text not in masked, (text, masked)


def test_json_escaped_secrets_are_masked_in_a_runs_output(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "Db/p&ss<w0rd>"
    monkeypatch.setenv("ORCH_SECRET_PW", secret)
    printed = ['{"a":"Db\\/p&ss<w0rd>"}', '{"a":"Db/p\\u0026ss\\u003cw0rd\\u003e"}']
    monkeypatch.setenv("PRINTED", "\n".join(printed))
    text = FILTERED.split("services:")[0] + (
        "services:\n  show: {command: 'printf \"%s\\n\" \"$PRINTED\" >&2; printf \"%s\\n\" "
        "\"$PRINTED\"', environment: {PW: '{{secret:pw}}', PRINTED: '{{env:PRINTED}}'}}\n")
    with Orchestrator(load_config_text(text), log_dir=tmp_path / "logs") as orch:
        result = orch.run("local", "show")
    assert result.stdout == result.stderr == '{"a":"****"}\n{"a":"****"}\n'
    assert not any(form[6:-2] in result.raw_stdout for form in printed)


def test_aligned_forms_match_the_encoders_own_output() -> None:
    """The characters the masker derives at each alignment are in the real encoding."""
    secret = make_secret(40)
    registry = SecretRegistry()
    registry.add(secret)
    encoded = {f.decode() for f in registry.forms.encoded}  # type: ignore[union-attr]
    for encode in ENCODERS.values():
        for offset in range(3):
            core = secret_chars(secret.encode(), offset, encode)
            assert any(core in form or form in core for form in encoded if len(form) >= 8)


CONFIG = """\
environments:
  local: {layers: []}
services:
  wrapped:
    command: |
      echo "$S" | base64
      printf 'x%s' "$S" | base64 -w 64
      printf 'xy%s' "$S" | base64 | awk '{printf "%s\\r\\n", $0}'
      echo "$S" | base64 -w 76 >&2
      exit 2
    environment: {S: "{{secret:long}}"}
"""


@pytest.mark.parametrize("length", [58, 61, 150])
def test_a_run_masks_wrapped_encodings_in_every_sink(length: int, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    secret = make_secret(length, seed=11)
    monkeypatch.setenv("ORCH_SECRET_LONG", secret)
    orch = Orchestrator(load_config_text(CONFIG), log_dir=tmp_path / "logs")
    sink = Recorder()
    try:
        result = orch.run("local", "wrapped", sinks=[sink])
        named = orch.start("local", "wrapped", name="w")
        named.wait(20)
        texts = {
            "stdout": result.stdout, "stderr": result.stderr, "lines": "\n".join(result.lines),
            "repr": repr(result), "json": result.json(), "sink": sink.output().decode(),
            "failure": result.describe_failure(), "logs": orch.logs("w"),
            "log-file": Path(orch.status("w").log_file or "").read_text(),
        }
    finally:
        orch.close()
    assert result.returncode == 2 and result.stdout.count(MASK) >= 3
    assert {k: v for k, v in texts.items() if secret in v or leaks_encoded(secret, v)} == {}


ERROR_CONFIG = """\
environments:
  remote-engine:
    layers:
      - {type: docker, config: {container: app, docker_host: "tcp://127.0.0.1:1/{{secret:tok}}"}}
"""


def test_error_messages_never_show_a_secret(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """An error built from a resolved value (here a docker_host URL) is masked in its message,
    repr and traceback, in the CLI's words, and in the `orch:` note of a named run's logs."""
    secret = "engine-token-Zq81/xy"
    monkeypatch.setenv("ORCH_SECRET_TOK", secret)
    (tmp_path / "orch.yaml").write_text(ERROR_CONFIG)
    orch = Orchestrator(load_config_text(ERROR_CONFIG), log_dir=tmp_path / "logs")
    try:
        with pytest.raises(OrchError) as info:
            orch.run("remote-engine", command="true")
        named = orch.start("remote-engine", command="true", name="n")
        with pytest.raises(OrchError):
            named.wait(20)
        logs = orch.logs("n")
    finally:
        orch.close()
    cli = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c",
                          str(tmp_path / "orch.yaml"), "run", "remote-engine", "--", "true"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "ORCH_SECRET_TOK": secret})
    texts = {"str": str(info.value), "repr": repr(info.value),
             "traceback": "".join(traceback.format_exception(info.value)),
             "cli": cli.stdout + cli.stderr, "logs": logs}
    assert "127.0.0.1:1/****" in texts["str"] and "127.0.0.1:1/****" in texts["cli"]
    assert {k: v for k, v in texts.items() if secret in v} == {}


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_url_encoded_and_line_forms_are_masked_at_every_cut(eol: bytes) -> None:
    from urllib.parse import quote, quote_plus

    value = "top line/with space\nsecond line+plus"
    registry = SecretRegistry()
    registry.add(value)
    lines = value.split("\n")
    output = eol.join([b"a " + quote(value, safe="").encode(), b"b " + quote_plus(value).encode(),
                       lines[1].encode() + b" c", b"d " + lines[0].encode(), b"end"]) + eol
    for cut in range(len(output)):
        masked = through_masker(registry, [output[:cut], output[cut:]]).decode()
        assert masked == eol.decode().join(["a ****", "b ****", "**** c", "d ****", "end"]) \
            + eol.decode(), cut


def test_a_multi_line_secret_masks_its_lines_text_not_their_indentation() -> None:
    """chains4: a JSON secret (a docker config.json) or one with a line of spaces made every
    `    }` or run of 4 spaces of later output `****`: a tar dumped to a file was corrupted."""
    value = '{\n  "auths": {\n    "registry.example.com": {\n      "auth": "dXNlcjpz"\n' \
            '    }\n  }\n}\n    \n\tpem-line-two\t'
    registry = SecretRegistry()
    registry.add(value)
    output = (b'def f():\n    return 1\n{\n  "nested": {\n    }\n}\n'
              b'      "auth": "dXNlcjpz"\n  pem-line-two\n')
    assert through_masker(registry, [output]) == (
        b'def f():\n    return 1\n{\n  "nested": {\n    }\n}\n      ****\n  ****\n')


def test_a_multi_line_secret_of_short_lines_is_masked_as_a_terminal_shows_it() -> None:
    """chains5: under `tty: true` (or from a CRLF program) `pw1\\nxy2\\nz93` came out as
    `pw1\\r\\nxy2\\r\\nz93`: the value no longer matched, and each line is too short to be
    masked alone, so the whole secret printed in clear."""
    registry = SecretRegistry()
    registry.add("pw1\nxy2\nz93")
    output = b"before\r\npw1\r\nxy2\r\nz93\r\nafter\r\n"
    for cut in range(len(output)):
        masked = through_masker(registry, [output[:cut], output[cut:]])
        assert masked == b"before\r\n****\r\n****\r\n****\r\nafter\r\n", (cut, masked)


def test_a_tty_run_masks_a_multi_line_secret(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_SECRET_ML", "pw1\nxy2\nz93")
    with Orchestrator(load_config_text(
            "environments: {local: {layers: []}}\nservices:\n  show: {command: 'printf "
            "\"%s\\\\n\" \"$S\"', tty: true, environment: {S: '{{secret:ml}}'}}\n"
            f"audit: {{path: {tmp_path / 'a.jsonl'}}}\n")) as orch:
        result = orch.run("local", "show")
    assert "pw1" not in result.stdout and "z93" not in result.stdout, result.stdout
    assert result.stdout.count("****") == 3, repr(result.stdout)


FILTERED = r"""
environments:
  local: {layers: []}
services:
  php:    # PHP's json_encode writes "/" as "\/"
    command: |
      printf '{"pw": "%s"}\n' "$(printf %s "$PW" | sed 's#/#\\/#g')"
    environment: {PW: "{{secret:pw}}"}
    filters: [{type: jq, query: .pw}]
  go:     # Go's encoding/json writes "&" as \u0026
    command: |
      printf '{"pw": "%s"}\n' "$(printf %s "$PW" | sed 's#&#\\u0026#g')"
    environment: {PW: "{{secret:pw}}"}
    filters: [{type: jq, query: .pw}, {type: grep, pattern: .}]
  hex:    # every byte as an upper-case \u escape (jq then decodes them one by one)
    command: |
      printf '{"pw": "%s"}\n' "$(printf %s "$PW" | od -An -vtx1 | tr -d ' \n' | sed 's/\(..\)/\\u00\1/g' | tr a-f A-F)"
    environment: {PW: "{{secret:pw}}"}
    filters: [{type: jq, query: '.pw | explode | implode'}]
  rebuilt:  # a bar cuts the value; replace takes it out again
    command: |
      printf '%s\n' "$PW" | sed 's/rd/r|d/'
    environment: {PW: "{{secret:pw}}"}
    filters: [{type: replace, pattern: '\|', replacement: ''}]
"""


@pytest.mark.parametrize("service", ["php", "go", "hex", "rebuilt"])
def test_what_filters_make_is_masked_too(service: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Masking ran only before the filters: a jq filter decoded a JSON escape the masker did not
    know (`\\/`, `\\u0026`) into the secret itself, and a `replace` filter could put a cut
    value together again; every sink after the filters (result, display, named-run logs)
    showed it in clear (held-out tester)."""
    secret = "passw/rd&42"
    monkeypatch.setenv("ORCH_SECRET_PW", secret)
    orch = Orchestrator(load_config_text(FILTERED), log_dir=tmp_path / "logs")
    sink = Recorder()
    try:
        result = orch.run("local", service, sinks=[sink])
        named = orch.start("local", service, name="n")
        named.wait(20)
        texts = {"stdout": result.stdout, "lines": "\n".join(result.lines),
                 "repr": repr(result), "json": result.json(), "sink": sink.output().decode(),
                 "logs": orch.logs("n")}
    finally:
        orch.close()
    assert result.returncode == 0 and MASK in result.stdout, result.stdout
    assert {k: v for k, v in texts.items() if secret in v} == {}


def run_with_secret(tmp_path: Path, secret: str, command: str | list[str],
                    tty: bool = False) -> RunResult:
    """`command` run as service `leak` with the secret `tok` (from a secrets file) in $TOK."""
    (tmp_path / "secrets.yaml").write_text(yaml.safe_dump({"tok": secret}))
    (tmp_path / "secrets.yaml").chmod(0o600)
    with Orchestrator(load_config_text(
            f"environments: {{local: []}}\naudit: {{enabled: false}}\n"
            f"secrets: {{providers: [file], file: '{tmp_path / 'secrets.yaml'}'}}\n"
            f"services:\n  leak: {{command: {json.dumps(command)}, tty: {str(tty).lower()}, "
            f"environment: {{TOK: '{{{{secret:tok}}}}'}}}}\n")) as orch:
        return orch.run("local", "leak")


@pytest.mark.parametrize("secret, part", [
    ("pa$s\"w`d\\x9", "pa\\$s"),  # declare -p, printf %q: a backslash before the `$`
    ("it's a s3cret", "s3cret"),  # set -x: 'it'\''s a s3cret'
    ("\ttok-12345 ", "tok-12345"),  # echo $TOK: the blanks at either end gone
    ("a <b> & c'd\"e", "&lt;b&gt;"),  # HTML-escaped
    ("my secret~pass$1", "secret~pass"),  # review27: printf %q leaves a `~` inside a word
    ("abcd,efgh^ijk", "efgh"),  # safety19: bash 5.2's printf %q escapes `,` and `^`
])
def test_a_secret_the_shell_quotes_back_or_splits_is_masked(tmp_path: Path, secret: str,
                                                            part: str) -> None:
    """safety14: a `$` or `"` in a password went out whole through `export -p` and
    `printf %q`, a `'` through `set -x`, and a pasted token's blanks through `echo $TOK`."""
    script = ('export -p | grep TOK; declare -p TOK; printf "%q\\n" "$TOK"; echo $TOK; '
              'set -x; : "$TOK"; echo "$TOK" | sed "s/&/\\&amp;/g; s/</\\&lt;/g; s/>/\\&gt;/g"')
    result = run_with_secret(tmp_path, secret, ["bash", "-c", script])
    shown = result.stdout + result.stderr
    assert result.ok and shown.count(MASK) >= 5 and part not in shown, shown


@pytest.mark.parametrize(("secret", "part", "locale"), [
    ("pässwörd1234", "ssw", "C"),  # bash's $'p\303\244ssw…' where the locale cannot print ä
    ("Zq7\x01kLm2pQ", "kLm2", "C.UTF-8"),  # a control byte: $'Zq7\001kLm2pQ' in any locale
])
def test_a_secret_bash_writes_in_ansi_c_quoting_is_masked(tmp_path: Path, secret: str,
                                                          part: str, locale: str) -> None:
    """safety15: `printf %q`, `declare -p`, `${X@Q}` and `set -x` write a value holding a
    byte the locale cannot print as `$'…'` with octal escapes: it went out whole; so did
    PyYAML's `\\xE4` and PHP's `&#039;`."""
    script = (f'export LC_ALL={locale}; printf "%q\\n" "$TOK"; declare -p TOK; '
              f'echo "${{TOK@Q}}"; {sys.executable} -c "import os, yaml; '
              'print(yaml.dump(os.environ[\'TOK\']))"; set -x; : "$TOK"')
    result = run_with_secret(tmp_path, secret, ["bash", "-c", script])
    shown = result.stdout + result.stderr
    assert result.ok and shown.count(MASK) >= 4 and part not in shown, shown
    from orch_magics.secrets.forms import quoting_forms
    assert "it&#039;s-Secr3t!" in quoting_forms("it's-Secr3t!")  # htmlspecialchars


@pytest.mark.parametrize("tty", [False, True])
def test_a_secret_a_program_colours_part_of_is_masked(tmp_path: Path, tty: bool) -> None:
    """safety15: grep's colour around the part of a token it matched (`--color=always`, or
    `auto` on a terminal) split the token with escape codes, which a terminal and a notebook
    render away: the token showed whole."""
    import re

    token = "ghp_A1b2C3d4E5f6G7h8"
    (tmp_path / "cfg.txt").write_text(f"token: {token}\n")
    cfg = tmp_path / "cfg.txt"
    script = (f"grep --color=always ghp_ {cfg}; grep --color=always -n E5f6 {cfg}; "
              f"grep --color=auto A1b2 {cfg}")
    result = run_with_secret(tmp_path, token, script, tty=tty)
    shown = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", result.stdout)  # as a terminal shows it
    assert result.ok and shown.count(MASK) == 3 and "A1b2" not in shown, repr(result.stdout)



@pytest.mark.parametrize("script", [
    r"printf 'x Sup3r\033[01;31m'; sleep 0.3; printf 'S3cretTok\033[m y\n'",  # two chunks
    r"printf 'x Sup3r\033[01'; sleep 0.3; printf ';31mS3cretTok\033[m y\n'",  # one cut in two
    r"printf 'x Sup3r\033(B\033[mS3cretTok y\n'",  # tput sgr0
    r"printf 'x Sup3r\033]8;;http://h/\033\\S3cretTok\033]8;;\033\\ y\n'",  # an OSC 8 link
    r"printf 'x Sup3r\033]8;;http://h/%0200d\033\\' 0; sleep 0.3; "  # review29: one longer
    r"printf 'S3cretTok\033]8;;\033\\ y\n'",  # than the secret, at a chunk's end
], ids=["chunks", "cut-escape", "sgr0", "osc8", "long-osc8-chunks"])
def test_a_secret_split_by_any_escape_or_chunk_is_masked(tmp_path: Path, script: str) -> None:
    """review28: masking through escape sequences held only for CSI in one chunk: a colour
    code that ended a chunk, `tput sgr0`'s `ESC ( B` and an OSC 8 hyperlink let it through."""
    import re

    result = run_with_secret(tmp_path, "Sup3rS3cretTok", script)
    shown = re.sub(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[ -/]*[0-~])", "",
                   result.stdout)  # as a terminal shows it
    assert result.ok and shown == f"x {MASK} y\n", repr(result.stdout)


@pytest.mark.parametrize("secret", ["p@ss w0rd~(x)!*'é€", "tok'en/with+plus&amp",
                                    "rocket\U0001f680launch\x7fcode"])
def test_a_secret_javascript_or_jq_url_encodes_is_masked(tmp_path: Path, secret: str) -> None:
    """safety19: `encodeURIComponent`, `URLSearchParams`, `escape()` (node) and jq's `@uri`
    and `@html` (`&apos;`) wrote a secret in forms Python's quote does not: shown in clear.
    safety20: `escape()` writes an emoji as two `%uXXXX` (UTF-16), and Python's json and jq
    escape DEL as `\u007f`."""
    script = ('node -e \'const t = process.env.TOK; console.log(encodeURIComponent(t)); '
              'console.log(new URLSearchParams({t}).toString()); console.log(escape(t))\'; '
              'jq -rn \'env.TOK | @uri, @html\'; jq -n env.TOK; '
              'python3 -c \'import json, os; print(json.dumps(os.environ["TOK"]))\'')
    result = run_with_secret(tmp_path, secret, ["bash", "-c", script])
    shown = result.stdout + result.stderr
    assert result.ok and shown.count(MASK) == 7, shown
