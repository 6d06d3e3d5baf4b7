"""``wgp serve``: the HTTP job API on uvicorn.  Only click is imported until the command runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from wgp_hookspecs import UserError


@click.command("serve")
@click.option("--host", "bind_host", default="127.0.0.1", show_default=True, metavar="ADDR",
              help="Address to bind; a non-loopback one needs --allow-remote.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port to bind (0 picks a free one).")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host: anyone who can reach it and holds the token submits and cancels jobs and downloads outputs.")
@click.option("--token-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="File holding the bearer token (default: the control channel's control.token in the state dir, created when missing).")
@click.option("--max-body", type=click.IntRange(1, None), default=1024 * 1024, show_default=True, metavar="BYTES",
              help="Largest request body accepted (larger ones get 413).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE", help="Config file (default: the usual lookup).")
@click.pass_obj
def serve(host: Any, bind_host: str, port: int, allow_remote: bool, token_file: str | None, max_body: int,
          config_file: str | None) -> None:
    """Serve the HTTP job API (submit, follow, download, cancel) over the queue; see docs/http.md."""
    from .server import bind, ensure_token, is_loopback, run_server

    if not is_loopback(bind_host) and not allow_remote:
        raise UserError(f"--host {bind_host} is not a loopback address; add --allow-remote to expose the API beyond this machine")
    from .app import TokenFile, create_app
    from .service import JobService

    service = JobService(host, config_file)
    path = Path(token_file).expanduser() if token_file else ensure_token(service.state_dir)
    if token_file and not path.is_file():
        raise UserError(f"--token-file {token_file}: no such file")
    tokens = TokenFile(path)
    if not tokens.get():
        raise UserError(f"the token file {path} is empty")
    service.models()  # plugins and config loaded now, not by the first request's threads at once
    service.watch()
    sock = bind(bind_host, port)
    actual = sock.getsockname()[1]
    if not is_loopback(bind_host):
        print(f"wgp: warning: the HTTP API listens on {bind_host}:{actual}; anyone who can reach it and holds the token "
              "can submit and cancel jobs, pause the queue and download every output", file=sys.stderr)
    print(f"wgp serve: http://{bind_host}:{actual} (bearer token in {path})", file=sys.stderr, flush=True)
    try:
        run_server(create_app(service, tokens.get, max_body), sock)
    finally:
        service.close()
