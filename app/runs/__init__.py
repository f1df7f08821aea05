"""Runs: a player's game on one dataset, its epochs, actions and checkpoints."""
