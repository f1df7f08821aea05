"""HyperQuest's training engine: datasets, networks, epochs, Net2Net growth, checkpoints.

Pure PyTorch: nothing here imports the web stack, so the web app's in-process
runner and the Celery workers call the same code.
"""
