"""Torch's default random generator is one per process: sections that seed it and draw from it take turns.

Network initialisation and dropout draw from that generator. The embedded runner trains on two
threads at once (players' epochs and background jobs), so without this lock one thread's seeding
could land between another's draws, and the same seed would no longer give the same network.
"""

from __future__ import annotations

import threading

#: Held while a thread seeds torch's default generator and draws from it (engine.models, engine.training).
DEFAULT_GENERATOR = threading.RLock()
