"""Running jobs outside the request: the runners (threads, a training process, Celery) and live notifications.

Every runner keeps the contract written down in app.runner.protocol.Runner; the web app only
ever talks to ``app.state.runner`` through it.
"""
