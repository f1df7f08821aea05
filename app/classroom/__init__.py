"""The class an instructor runs: its settings (class code, dataset pool, families, reveal rules)."""
