"""Automatic players: engine policies driven through the same service calls as a student."""
