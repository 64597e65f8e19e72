"""``callsfu``: run the server, and manage call links on a running one."""

from __future__ import annotations

import argparse
import json
import logging
import os
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Sequence

from control.config import DEFAULT_LINK_TTL, MAX_PARTICIPANTS_LIMIT, Config
from control.logs import configure as configure_logs
from control.webhooks import check_url, signing_key
from sfu import collector

DEFAULT_SERVER = "http://127.0.0.1:8080"


def _env(flag: str) -> str | None:
    return os.environ.get("CALLSFU_" + flag.upper().replace("-", "_"))


def _env_list(flag: str) -> list[str]:
    """A repeatable flag from its variable: values separated by commas or spaces."""
    return (_env(flag) or "").replace(",", " ").split()


def _truthy(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"callsfu: {value!r} is not a yes/no value (use 1 or 0)")


def _env_default(flag: str, default: Any, convert: Callable[[str], Any] = str) -> Any:
    value = _env(flag)
    return default if value is None or value == "" else convert(value)


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the control plane and the SFU",
        description="Run the control plane and the SFU. Every flag can also be set as"
        " CALLSFU_<FLAG> (--link-ttl is CALLSFU_LINK_TTL).",
    )
    p.add_argument("--host", default=_env_default("host", "127.0.0.1"), help="HTTP listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=_env_default("port", 8080, int), help="HTTP listen port (default 8080)")
    p.add_argument("--data-dir", type=Path, default=_env_default("data-dir", Path("./data"), Path), help="where the embedded SQLite store lives (default ./data)")
    p.add_argument("--store", default=_env_default("store", None), help="redis://host:port/db to share links between nodes (default: SQLite in --data-dir)")
    p.add_argument("--link-ttl", type=int, default=_env_default("link-ttl", DEFAULT_LINK_TTL, int), help="seconds a new link stays valid (default 7776000, 90 days)")
    p.add_argument("--max-participants", type=int, default=_env_default("max-participants", MAX_PARTICIPANTS_LIMIT, int), help="per call, 1 to 32 (default 32)")
    p.add_argument("--max-viewers", type=int, default=_env_default("max-viewers", 100, int), help="WHEP viewers per call, 0 to 10000; 0 turns WHEP off (default 100)")
    p.add_argument("--ice-host", action="append", default=None, help="address offered as an ICE host candidate; repeatable (default: every interface but loopback). --ice-host 127.0.0.1 makes loopback work")
    p.add_argument("--udp-port", type=int, default=_env_default("udp-port", 0, int), help="the one UDP port of the SFU for all its ICE/DTLS/SRTP, on every --ice-host address (default 0: a free port, chosen at start and printed)")
    p.add_argument("--ice-server", action="append", default=None, help="a STUN/TURN URL handed to clients in ice_servers; repeatable")
    p.add_argument("--turn-secret", default=_env_default("turn-secret", None), help="the TURN server's shared secret (coturn static-auth-secret): each join gets time-limited credentials for the turn: URLs of --ice-server")
    p.add_argument("--turn-secret-file", type=Path, default=_env_default("turn-secret-file", None, Path), help="read --turn-secret from this file (keeps it out of ps; or set CALLSFU_TURN_SECRET)")
    p.add_argument("--api-key", default=_env_default("api-key", None), help="when set, creating and revoking links needs 'Authorization: Bearer KEY'; when unset, only loopback callers may. Visible in ps: prefer --api-key-file or CALLSFU_API_KEY")
    p.add_argument("--api-key-file", type=Path, default=_env_default("api-key-file", None, Path), help="read --api-key from this file (keeps it out of ps; or set CALLSFU_API_KEY)")
    p.add_argument("--public-url", default=_env_default("public-url", None), help="base of the link URLs it hands out (default http://HOST:PORT)")
    p.add_argument("--tls-cert", type=Path, default=_env_default("tls-cert", None, Path), help="certificate (PEM) to serve HTTPS and WSS")
    p.add_argument("--tls-key", type=Path, default=_env_default("tls-key", None, Path), help="private key (PEM) for --tls-cert")
    p.add_argument("--rate-limit", type=int, default=_env_default("rate-limit", 30, int), help="joins and link creations per minute per address, loopback exempt; 0 turns it off (default 30)")
    p.add_argument("--forwarding", default=_env_default("forwarding", None), help="native (default: the C fan-out, when it was built) or python (the pure-Python path)")
    p.add_argument("--loudest-audio", type=int, default=_env_default("loudest-audio", 3, int), help="each participant gets the audio of the N loudest speakers at once, plus anyone clearly speaking over them; silence is never forwarded (default 3; 0: everyone's)")
    p.add_argument("--node-id", default=_env_default("node-id", None), help="this node's name in a shared (Redis) store, stable across restarts so that a restarted node frees the seats it held (default HOSTNAME:PORT)")
    p.add_argument("--webhook-url", action="append", default=None, help="POST call and link events there (Standard Webhooks); repeatable (CALLSFU_WEBHOOK_URL: several separated by spaces or commas)")
    p.add_argument("--webhook-secret", default=_env_default("webhook-secret", None), help="whsec_BASE64 key webhooks are signed with. Visible in ps: prefer --webhook-secret-file or CALLSFU_WEBHOOK_SECRET")
    p.add_argument("--webhook-secret-file", type=Path, default=_env_default("webhook-secret-file", None, Path), help="read --webhook-secret from this file (e.g. echo whsec_$(openssl rand -base64 32) > FILE)")
    p.add_argument("--workers", type=int, default=_env_default("workers", os.cpu_count() or 1, int), help="SFU worker processes, each hosting whole calls on its own UDP port (--udp-port + its index); 0 runs the SFU inside the server process (default: the number of CPU cores)")
    p.add_argument("--log-level", default=_env_default("log-level", "info"), help="debug, info, warning (default info)")
    p.add_argument("--log-format", default=_env_default("log-format", "text"), help="text (default) or json: one JSON object per line, for log shippers")
    p.set_defaults(func=_serve)


def _secret(value: str | None, path: Path | None, flag: str) -> str | None:
    """A secret from its flag/variable or from ``--FLAG-file`` (one of them)."""
    if path is None:
        return value
    if value is not None:
        raise ValueError(f"give {flag} or {flag}-file, not both (CALLSFU_{flag[2:].upper().replace('-', '_')} counts as {flag})")
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ValueError(f"cannot read {flag}-file {path}: {reason}") from None
    if not secret:
        raise ValueError(f"{flag}-file {path} is empty")
    return secret


def _warn_secret_on_argv(argv: Sequence[str]) -> None:
    for flag in ("--api-key", "--turn-secret", "--webhook-secret"):
        if any(a == flag or a.startswith(flag + "=") for a in argv):
            print(f"callsfu: warning: {flag} on the command line shows in ps; use {flag}-file or CALLSFU_{flag[2:].upper().replace('-', '_')}", file=sys.stderr)


def _quiet_bad_requests(record: logging.LogRecord) -> bool:
    """aiohttp logs a traceback at ERROR for every malformed request it answers
    400 (a NUL in a header...): anyone could fill the log with them. One line."""
    from aiohttp.http_exceptions import HttpProcessingError

    exc = record.exc_info[1] if record.exc_info else None
    if not isinstance(exc, HttpProcessingError):
        return True
    remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
    reason = (exc.message.splitlines() or ["?"])[0][:120]
    record.levelno, record.levelname = logging.INFO, "INFO"
    record.msg, record.args, record.exc_info, record.exc_text = "refused a malformed HTTP request from %s: %s", (remote, reason), None, None
    return logging.getLogger("callsfu").isEnabledFor(logging.INFO)


def raise_open_files_limit() -> tuple[int, int]:
    """Lift the soft RLIMIT_NOFILE to the hard limit; returns (before, after)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:  # Linux refuses more than fs.nr_open
        try:
            target = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            target = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            logging.getLogger("callsfu").warning("could not raise the open files limit from %d: %s", soft, exc)
            return soft, soft
        logging.getLogger("callsfu").info("open files limit raised from %d to %d", soft, target)
        return soft, target
    logging.getLogger("callsfu").info("open files limit: %d", soft)
    return soft, soft


def _serve(args: argparse.Namespace) -> int:
    ice_hosts = args.ice_host or _env_list("ice-host")
    ice_servers = args.ice_server or _env_list("ice-server")
    try:
        api_key = _secret(args.api_key, args.api_key_file, "--api-key")
        turn_secret = _secret(args.turn_secret, args.turn_secret_file, "--turn-secret")
        webhook_secret = _secret(args.webhook_secret, args.webhook_secret_file, "--webhook-secret")
        config = Config(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            store=args.store,
            link_ttl=args.link_ttl,
            max_participants=args.max_participants,
            max_viewers=args.max_viewers,
            ice_host=ice_hosts,
            ice_servers=ice_servers,
            udp_port=args.udp_port,
            api_key=api_key,
            public_url=args.public_url,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            rate_limit=args.rate_limit,
            turn_secret=turn_secret,
            node_id=args.node_id or None,
            webhook_urls=args.webhook_url or _env_list("webhook-url"),
            webhook_secret=webhook_secret,
            log_format=args.log_format,
            loudest_audio=args.loudest_audio,
            workers=args.workers,
            forwarding=args.forwarding,
            log_level=args.log_level,
        )
        if webhook_secret is not None:
            signing_key(webhook_secret)  # a malformed secret stops the start, with the reason
        for url in config.webhook_urls:
            check_url(url)
    except ValueError as exc:
        print(f"callsfu: {exc}", file=sys.stderr)
        return 2
    configure_logs(args.log_level, config.log_format)
    logging.getLogger("aioice").setLevel(logging.WARNING)
    if config.workers:  # the workers choose (and log) it; this process forwards nothing
        if (args.forwarding or "native").strip().lower() not in ("native", "python"):
            print(f"callsfu: --forwarding must be one of native, python, not {args.forwarding!r}", file=sys.stderr)
            return 2
    else:
        from sfu.rtc import fanout

        try:
            fanout.choose(args.forwarding)
        except ValueError as exc:
            print(f"callsfu: {exc}", file=sys.stderr)
            return 2
        logging.getLogger("callsfu").info("forwarding path: %s", fanout.describe())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.server").addFilter(_quiet_bad_requests)
    raise_open_files_limit()
    from aiohttp import web

    from control.app import create_app

    ssl_context = None
    if config.tls_cert and config.tls_key:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(config.tls_cert, config.tls_key)
    import uvloop

    app = create_app(config)
    # Everything imported and built so far lives as long as the process: keep
    # it out of the cyclic collector's full passes, which otherwise traverse
    # it every time and pause the media path (the p99 of a meeting); and full
    # passes are rarer (sfu/collector.py: a join storm set off six of them).
    logging.getLogger("callsfu").info(collector.settle())
    print(f"callsfu serving on {config.base_url}  (open it in a browser, or: callsfu link create --type video)", flush=True)
    try:
        web.run_app(
            app,
            host=config.host,
            port=config.port,
            ssl_context=ssl_context,
            print=None,
            loop=uvloop.new_event_loop(),
            handle_signals=True,
        )
    except OSError as exc:  # a port taken, an address not on this machine
        print(f"callsfu: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


# -- link management over HTTP ------------------------------------------------------
def _request(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(args.server.rstrip("/") + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        api_key = _secret(args.api_key, args.api_key_file, "--api-key")
    except ValueError as exc:
        raise SystemExit(f"callsfu: {exc}") from None
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"error": {"code": "http_error", "message": raw.decode(errors="replace")}}
    except urllib.error.URLError as exc:
        raise SystemExit(f"callsfu: cannot reach {args.server} ({exc.reason}); is `callsfu serve` running? Pass --server URL.")


def _print(status: int, payload: Any) -> int:
    if status >= 400:
        err = (payload or {}).get("error", {})
        print(f"callsfu: {err.get('message', 'request failed')} ({err.get('code', status)})", file=sys.stderr)
        return 1
    if payload is not None:
        print(json.dumps(payload, indent=2))
    return 0


def new_e2ee_key() -> str:
    """256 random bits for an end-to-end encrypted link, base64url without
    padding: what goes after ``#key=`` (docs/protocol.md). Made here, never sent."""
    import base64
    import secrets

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def _link_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"type": args.type}
    if args.title:
        body["title"] = args.title
    if args.e2ee:
        body["e2ee"] = True
    status, payload = _request(args, "POST", "/api/links", body)
    if args.e2ee and status < 400 and isinstance(payload, dict) and "url" in payload:
        payload["url"] = f"{payload['url']}#key={new_e2ee_key()}"  # the server never sees it
    return _print(status, payload)


def _link_show(args: argparse.Namespace) -> int:
    return _print(*_request(args, "GET", f"/api/links/{args.token}"))


def _link_revoke(args: argparse.Namespace) -> int:
    status, payload = _request(args, "DELETE", f"/api/links/{args.token}")
    code = _print(status, payload)
    if code == 0:
        print("revoked: new joins are refused and everyone in the call was disconnected")
    return code


def _client_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", default=_env_default("server", DEFAULT_SERVER), help=f"server base URL (default {DEFAULT_SERVER}; env CALLSFU_SERVER)")
    common.add_argument("--api-key", default=_env_default("api-key", None), help="the server's --api-key, if it has one (env CALLSFU_API_KEY)")
    common.add_argument("--api-key-file", type=Path, default=_env_default("api-key-file", None, Path), help="read --api-key from this file (env CALLSFU_API_KEY_FILE)")
    return common


def _link_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("link", help="create, show or revoke call links on a running server", description="Manage call links on a running callsfu server over its HTTP API.")
    lsub = p.add_subparsers(dest="link_command", required=True, metavar="{create,show,revoke}")
    c = lsub.add_parser("create", parents=[common], help="create a call link", description="Create a call link and print it as JSON (its url is what you share).")
    c.add_argument("--type", choices=["audio", "video"], required=True, help="audio or video call")
    c.add_argument("--title", default=None, help="optional title, at most 100 characters")
    c.add_argument("--e2ee", action="store_true", default=_env_default("e2ee", False, _truthy), help="end-to-end encrypted call: a 256-bit key is made here and printed in the url after #key= (the server never receives it; share the whole url). Env CALLSFU_E2EE=1")
    c.set_defaults(func=_link_create)
    s = lsub.add_parser("show", parents=[common], help="show a link and who is in its call", description="Show a call link: type, title, expiry and how many people are in the call now.")
    s.add_argument("token", help="the link's token (the last part of its URL)")
    s.set_defaults(func=_link_show)
    r = lsub.add_parser("revoke", parents=[common], help="revoke a link at once", description="Revoke a call link: new joins are refused and the call ends for everyone in it.")
    r.add_argument("token", help="the link's token (the last part of its URL)")
    r.set_defaults(func=_link_revoke)


def _drain(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {} if args.worker is None else {"worker": args.worker}
    return _print(*_request(args, "POST", "/drain", body))


def _drain_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    d = sub.add_parser(
        "drain", parents=[common], help="move calls off a worker or off this node",
        description="Stop placing new calls on one SFU worker (--worker I, see /healthz) or on the whole node,"
        " and ask everyone in its calls to rejoin: they land on another worker or node. A drained worker is"
        " replaced by a fresh one once its calls have moved.",
    )  # fmt: skip
    d.add_argument("--worker", type=int, default=None, help="the worker's id (default: the whole node)")
    d.set_defaults(func=_drain)


def _bench(args: argparse.Namespace) -> int:
    # the product never imports its benchmarks: they have their own entry point
    print("callsfu: the load test is `callsfu-bench ARGS` (or `python -m benchmarks ARGS`)", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callsfu", description="Call links on a Python SFU that forwards RTP without transcoding.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{serve,link,drain,bench}")
    _serve_parser(sub)
    common = _client_options()
    _link_parser(sub, common)
    _drain_parser(sub, common)
    b = sub.add_parser("bench", help="moved: the load test is callsfu-bench (python -m benchmarks)", add_help=False)
    b.add_argument("bench_args", nargs=argparse.REMAINDER)
    b.set_defaults(func=_bench)
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(raw)
    _warn_secret_on_argv(raw)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
