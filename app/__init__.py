"""HyperQuest's application layer: settings and the ``hyperquest`` command (the web app joins here)."""
