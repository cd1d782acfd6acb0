"""`python -m orch_magics.cli …` is `orch …`."""

import sys

from . import main

sys.exit(main())
