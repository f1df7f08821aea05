"""Students: login, the one-time survey, who is allowed to see what."""
