"""``python -m app.cli`` runs the ``hyperquest`` command."""

import sys

from app.cli import main

sys.exit(main())
