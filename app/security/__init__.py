"""Defences of the web app: server-side sessions, CSRF, rate limits, security headers, body limits."""
