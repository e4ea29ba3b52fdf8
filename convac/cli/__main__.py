"""``python -m convac.cli``: the ``convac`` command."""

import sys

from . import main

sys.exit(main())
