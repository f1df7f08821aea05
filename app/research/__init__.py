"""Research export: pseudonymous tables of participants, datasets, runs, epochs and actions."""
