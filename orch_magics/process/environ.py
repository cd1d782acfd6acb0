"""What the secrets resolver and the layers both need to know, without importing each other.

`PLACEHOLDER` is the syntax of a value still to be resolved (`{{secret:NAME}}`, `{{env:VAR}}`):
the resolver expands it, a layer must never receive one. `SECRET_ENV_PREFIX` names the
variables the `env` secrets provider reads: this machine's processes never inherit them.
"""

from __future__ import annotations

import os
import re

PLACEHOLDER = re.compile(r"\{\{\s*(secret|env)\s*:\s*([^}]*?)\s*\}\}")
#: `{{secret:db_password}}` is read from `$ORCH_SECRET_DB_PASSWORD` by the env provider.
SECRET_ENV_PREFIX = "ORCH_SECRET_"


def inherited_environ() -> dict[str, str]:
    """This process's environment minus the secret provider's variables (for local children)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SECRET_ENV_PREFIX)}
