"""The instructor's dashboard: class overview, students, run replays, settings, standings."""
