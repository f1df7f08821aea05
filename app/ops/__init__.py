"""Operating HyperQuest processes: starting servers and workers, measuring them."""
