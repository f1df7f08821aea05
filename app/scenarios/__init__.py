"""Scenario links: a pinned dataset, starting configuration and locked or hidden knobs."""
