"""Staff accounts: instructors and researchers, who log in with a password."""
