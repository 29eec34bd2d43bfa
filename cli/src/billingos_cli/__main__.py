"""`./billingos <command>`: up, test, gen, org create, reconcile, gateway render,
web build."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

from billingos_cli.paths import REPO_ROOT, STATE_DIR


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["test"] and arguments[1:2] not in (["-h"], ["--help"]):
        # Everything after `test` belongs to pytest, options included.
        return run_tests(arguments[1:])
    parser = argparse.ArgumentParser(prog="billingos")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the whole suite in the foreground")
    test = commands.add_parser("test", help="run every test (extra arguments go to pytest)")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    gen = commands.add_parser(
        "gen", help="regenerate gen/ and deploy/ from protos/ and services.toml"
    )
    gen.add_argument("--check", action="store_true", help="fail if anything generated is stale")
    org = commands.add_parser("org", help="organizations (while the suite runs)")
    org_commands = org.add_subparsers(dest="org_command", required=True)
    org_create = org_commands.add_parser("create", help="create an organization and its API key")
    org_create.add_argument("--name", required=True)
    org_create.add_argument(
        "--development",
        action="store_true",
        help="in development mode: webhooks may go to http and local addresses",
    )
    org_key = org_commands.add_parser("key", help="issue a new API key to an organization")
    org_key.add_argument("--organization-id", required=True)
    org_key.add_argument("--name", default="Issued key")
    reconcile = commands.add_parser(
        "reconcile",
        help="check that orders, payments and refunds come out even (exit 1 if not)",
    )
    reconcile.add_argument(
        "--database-url",
        help="the suite's database (default: $DATABASE_URL, else the running suite's)",
    )
    reconcile.add_argument(
        "--organization", action="append", default=[], help="only this organization (repeatable)"
    )
    reconcile.add_argument(
        "--settle-seconds",
        type=float,
        default=60.0,
        help="payments changed this recently are not judged yet (their events may be on the way)",
    )
    reconcile.add_argument("--json", type=Path, help="also write the report as JSON here")
    gateway = commands.add_parser("gateway", help="the Envoy gateway config")
    gateway_commands = gateway.add_subparsers(dest="gateway_command", required=True)
    render = gateway_commands.add_parser("render", help="write the Kubernetes gateway config")
    render.add_argument("--out", type=Path, required=True)
    web = commands.add_parser("web", help="the front end the gateway serves (web/)")
    web_commands = web.add_subparsers(dest="web_command", required=True)
    web_build = web_commands.add_parser(
        "build", help="build web/ into web/dist/ (npm ci, then vite); `up` does it when needed"
    )
    web_build.add_argument(
        "--force", action="store_true", help="build even if sources and lock are unchanged"
    )
    scaffold = commands.add_parser(
        "new-service",
        help="a new context: services/NAME, its protos, registry and workspace entries",
    )
    scaffold.add_argument("name")
    args = parser.parse_args(arguments)

    if args.command == "up":
        from billingos_cli.up import run_up

        return run_up()
    if args.command == "test":
        return run_tests(args.pytest_args)
    if args.command == "gen":
        return run_gen(check=args.check)
    if args.command == "org":
        return run_org(args)
    if args.command == "reconcile":
        return run_reconcile_command(args)
    if args.command == "new-service":
        return run_new_service(args.name)
    if args.command == "web":
        return run_web_build(force=args.force)
    if args.command == "gateway":
        from billingos_cli.gateway import render as render_gateway
        from billingos_cli.kubernetes import kubernetes_gateway_target

        config = render_gateway(kubernetes_gateway_target())
        args.out.write_text(yaml.safe_dump(config, sort_keys=False))
        return 0
    return 2


def run_new_service(name: str) -> int:
    from billingos_cli import protogen
    from billingos_cli.scaffold import new_service

    try:
        written = new_service(REPO_ROOT, name)
    except ValueError as error:
        print(f"billingos new-service: {error}", file=sys.stderr)
        return 2
    protogen.generate()
    for path in written:
        print(path.relative_to(REPO_ROOT))
    print(
        f"services/{name} is registered and wired in; `./billingos test services/{name}` "
        "checks it. Its API goes in protos/billingos/" + name + "/v1/ (then ./billingos gen)."
    )
    return 0


def run_web_build(*, force: bool) -> int:
    from billingos_cli.paths import WEB_DIST
    from billingos_cli.web import ensure_built, served_files

    why = ensure_built(force=force)
    if why is not None:
        print(f"billingos web build: {why}", file=sys.stderr)
        return 1
    for static in served_files():
        size = Path(static.filename).stat().st_size
        print(f"{static.route}  ({size} bytes, {static.cache_control})")
    print(f"built into {WEB_DIST.relative_to(REPO_ROOT)}/; the gateway serves it on its next start")
    return 0


def run_tests(pytest_args: list[str]) -> int:
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args], cwd=REPO_ROOT, check=False
    )
    if completed.returncode == 5:
        print("billingos test: no tests were collected; that is a failure", file=sys.stderr)
        return 1
    return completed.returncode


def run_gen(*, check: bool) -> int:
    from billingos_cli import protogen

    if not check:
        protogen.generate()
        return 0
    stale = protogen.stale_files()
    if stale:
        print("gen/ or deploy/ is not current; run ./billingos gen. Differences:", file=sys.stderr)
        for name in stale:
            print(f"  {name}", file=sys.stderr)
        return 1
    return 0


def run_org(args: argparse.Namespace) -> int:
    import grpc

    from billingos_cli.admin import create_organization, issue_api_key
    from billingos_cli.state import SuiteState

    state = SuiteState.load(STATE_DIR)
    address = state.grpc_addresses.get("customers")
    if not address:
        print("the suite is not running; start it with ./billingos up", file=sys.stderr)
        return 1
    try:
        if args.org_command == "create":
            created = create_organization(
                address, state.service_token, args.name, development=args.development
            )
        else:
            created = issue_api_key(address, state.service_token, args.organization_id, args.name)
    except grpc.RpcError as error:
        print(f"billingos: {error.details()}", file=sys.stderr)
        return 1
    print(created.as_json())
    return 0


def run_reconcile_command(args: argparse.Namespace) -> int:
    import os

    from billingos_cli.reconcile import run_reconcile
    from billingos_cli.state import SuiteState

    database_url = args.database_url or os.environ.get("DATABASE_URL") or ""
    if not database_url:
        database_url = SuiteState.load(STATE_DIR).database_url
    if not database_url:
        print(
            "no database to reconcile: start the suite (./billingos up), or give "
            "--database-url or DATABASE_URL",
            file=sys.stderr,
        )
        return 2
    return run_reconcile(
        database_url,
        args.organization,
        settle_seconds=args.settle_seconds,
        json_out=args.json,
    )


if __name__ == "__main__":
    sys.exit(main())
