"""Running epochs outside the request: the in-process runner (embedded mode) and live notifications."""
