"""Torch's default random generator is one per process: seeded network builds take turns on it.

Network initialisation draws from that generator (torch's layers initialise themselves from it).
Several runner threads may build networks at once, so without this lock one thread's seeding could
land between another's draws, and the same seed would no longer give the same network. Training
never uses it: dropout draws from each epoch's own generator (engine.training). Nothing else may
draw from it either, because a draw without the lock would shift another thread's seeded build:
restored and grown networks are built empty (engine.models.empty_network) and the linear baseline
skips its layer's random initialiser. So the lock is only ever held for the milliseconds a build
takes, and never around a database write.
"""

from __future__ import annotations

import threading

#: Held while a thread seeds torch's default generator and builds a network from it (engine.models).
DEFAULT_GENERATOR = threading.RLock()
