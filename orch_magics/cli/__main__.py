"""`python -m orch_magics.cli …` is `orch …`."""

import sys

from .main import main

sys.exit(main())
