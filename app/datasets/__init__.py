"""The pool of datasets players draw from, and their baselines."""
