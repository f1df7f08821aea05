"""Database access: the declarative base, engines chosen by URL, and sessions."""
