"""``hyperquest lti``: register learning management systems (LTI 1.3 platforms) from the command line."""

from __future__ import annotations

import argparse

from engine.errors import ConfigError


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser("lti", help="manage LTI 1.3 platforms (learning management systems)")
    actions = parser.add_subparsers(dest="lti_command", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add-platform", help="register a platform (or update the one with the same issuer and client ID)")
    add.add_argument("--issuer", required=True, help="the platform's issuer (iss), e.g. https://canvas.instructure.com")
    add.add_argument("--client-id", required=True, help="the client ID the platform gave this tool")
    add.add_argument("--deployment-id", required=True, action="append", dest="deployment_ids",
                     help="a deployment ID of the tool in the platform (repeat for several)")
    add.add_argument("--auth-login-url", required=True, help="the platform's OIDC authentication URL")
    add.add_argument("--auth-token-url", required=True, help="the platform's OAuth2 access token URL")
    add.add_argument("--key-set-url", required=True, help="the platform's public key set (JWKS) URL")
    add.add_argument("--name", default="", help="a name for people (default: the issuer's host)")
    add.set_defaults(run=run_add)
    listing = actions.add_parser("list", help="list the registered platforms")
    listing.set_defaults(run=run_list)
    urls = actions.add_parser("tool-urls", help="print what to enter in the LMS for this tool")
    urls.add_argument("--base-url", required=True, help="the address students reach HyperQuest at, e.g. https://hq.example.edu")
    urls.set_defaults(run=run_tool_urls)


def _session():
    from app.cli.staff import _session as staff_session

    return staff_session()


def run_add(args: argparse.Namespace) -> int:
    """Add or update the platform; a bad URL or ID is one line and exit 1."""
    from app.errors import WebError
    from app.lti.platforms import PlatformInput, save_platform, validated

    given = PlatformInput(issuer=args.issuer, client_id=args.client_id, deployment_ids=args.deployment_ids,
                          auth_login_url=args.auth_login_url, auth_token_url=args.auth_token_url,
                          key_set_url=args.key_set_url, name=args.name)
    try:
        validated(given)  # before migrating: a typo needs no database
    except WebError as exc:
        raise ConfigError(exc.message) from None
    with _session() as db:
        row, created = save_platform(db, given)
        db.commit()
        print(f"{'added' if created else 'updated'} platform {row.name!r} (issuer {row.issuer}, client ID {row.client_id}, "
              f"deployments {', '.join(row.deployment_ids)})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """One line per platform: name, issuer, client ID, deployment IDs."""
    from app.lti.platforms import platforms

    with _session() as db:
        rows = platforms(db)
        for row in rows:
            print(f"{row.name}\t{row.issuer}\t{row.client_id}\t{','.join(row.deployment_ids)}")
        if not rows:
            print("no platforms registered (hyperquest lti add-platform ...)")
    return 0


def run_tool_urls(args: argparse.Namespace) -> int:
    """The login URL, launch URL, redirect URI and JWKS URL to paste into the LMS."""
    from app.errors import WebError
    from app.lti.platforms import check_url, tool_urls

    try:
        base = check_url(args.base_url, "base URL")
    except WebError as exc:
        raise ConfigError(exc.message) from None
    urls = tool_urls(base)
    print(f"OIDC login URL:      {urls['login_url']}")
    print(f"Launch URL:          {urls['launch_url']}")
    print(f"Redirect URI(s):     {urls['redirect_uris']}")
    print(f"Public JWKS URL:     {urls['jwks_url']}")
    return 0
