"""``hyperquest lti``: register learning management systems (LTI 1.3 platforms) from the command line."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser("lti", help="manage LTI 1.3 platforms (learning management systems)")
    parser.set_defaults(run=lambda args: parser.print_help() or 0)
