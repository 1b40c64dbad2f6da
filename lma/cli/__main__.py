"""``python -m lma.cli``: the same as the ``lma`` command."""

import sys

from lma.cli import main

sys.exit(main())
