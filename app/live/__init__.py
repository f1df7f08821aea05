"""Live updates: waking the server-sent event streams of pages that watch a run (in-process, and over Redis)."""
