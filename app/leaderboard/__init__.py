"""Leaderboards: per dataset and overall."""
