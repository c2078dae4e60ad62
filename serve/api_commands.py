"""``contraband serve``, ``contraband apikey create|list`` and ``contraband feedback export``.

``serve`` turns its flags into ``CONTRABAND_*`` variables (see serve/api/settings.py) and
starts uvicorn with the app factory, so every worker process reads the same settings.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from serve.api.auth import ROLES, create_key, read_keys_file
from serve.api.settings import DEFAULT_FEEDBACK_DB, DEFAULT_KEYS_FILE, Settings

# flag name → settings field (env var CONTRABAND_<FIELD>)
_SERVE_FLAGS = {
    "model": "model", "models_dir": "models_dir", "api_keys_file": "api_keys_file",
    "feedback_db": "feedback_db", "thresholds_file": "thresholds_file",
    "max_batch": "max_batch", "inference_threads": "inference_threads",
    "batch_wait_ms": "batch_wait_ms", "rate_limit": "rate_limit_per_s",
    "log_level": "log_level", "target_prior": "target_prior", "mix_window": "mix_window",
    "mix_min_rows": "mix_min_rows", "max_markets": "max_markets",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_serve(subparsers)
    _register_apikey(subparsers)
    _register_feedback(subparsers)


def _register_serve(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve", help="run the moderators' HTTP API",
        description="Run the HTTP API (docs at http://HOST:PORT/docs). Every flag can also be "
                    "set as an environment variable CONTRABAND_<NAME>; see README.md (API).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", help="bundle: path, folder name, kind or 'default' (default)")
    p.add_argument("--models-dir", help="models folder (default $CONTRABAND_MODELS or "
                   "artifacts/models)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--no-auth", action="store_true",
                   help="DEVELOPMENT ONLY: no API keys needed (same as CONTRABAND_AUTH=off)")
    p.add_argument("--api-keys-file", help=f"hashed keys, JSON or TOML (default "
                   f"{DEFAULT_KEYS_FILE})")
    p.add_argument("--feedback-db",
                   help=f"SQLite file for verdicts (default {DEFAULT_FEEDBACK_DB})")
    p.add_argument("--thresholds-file", help="threshold overrides JSON (default beside the DB)")
    p.add_argument("--max-batch", type=int, help="listings per classify request (default 256)")
    p.add_argument("--inference-threads", type=int, help="model calls at once (default 1)")
    p.add_argument("--batch-wait-ms", type=float, help="micro-batch wait bound (default 2)")
    p.add_argument("--rate-limit", type=float, help="requests/s per key, 0 = none (default 50)")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--log-text", action="store_true", help="log listing titles (off by default)")
    p.add_argument("--target-prior", metavar="CLASS=SHARE,...",
                   help="the class mix of the marketplace served, e.g. 'benign=0.97,drugs=0.02,"
                        "weapons=0.002,counterfeit=0.004,stolen_data=0.004' (contraband adapt "
                        "prints an estimate per market): every score is corrected to it, one "
                        "listing at a time (default: the training mix, about half drugs)")
    p.add_argument("--mix-window", type=int, metavar="N",
                   help="predicted labels kept to estimate the served marketplace's class mix "
                        "(GET /v1/mix; default 10000, 0 = off)")
    p.add_argument("--mix-min-rows", type=int, metavar="N",
                   help="a marketplace's listings scored before its mix is estimated and "
                        "applied (default 200)")
    p.add_argument("--max-markets", type=int, metavar="N",
                   help="marketplaces whose windows are kept (default 1000)")
    p.add_argument("--no-market-adaptation", action="store_true",
                   help="score listings that name their market at the training mix (or the "
                        "target prior) all the same; GET /v1/mix still estimates their mix")
    p.set_defaults(handler=_serve)


def _register_apikey(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("apikey", help="create and list API keys for `contraband serve`")
    sub = p.add_subparsers(dest="apikey_command", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="make a key, print it once, store only its hash")
    create.add_argument("--roles", nargs="+", required=True, choices=ROLES, metavar="ROLE",
                        help=f"one or more of {', '.join(ROLES)}")
    create.add_argument("--name", help="who or what uses the key (default key-N)")
    create.add_argument("--keys-file", help=f"default $CONTRABAND_API_KEYS_FILE or "
                        f"{DEFAULT_KEYS_FILE}")
    create.add_argument("--rate-limit", type=float, help="requests/s for this key")
    create.set_defaults(handler=_apikey_create)
    lister = sub.add_parser("list", help="names and roles of the stored keys (never the keys)")
    lister.add_argument("--keys-file")
    lister.set_defaults(handler=_apikey_list)


def _register_feedback(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("feedback", help="moderators' verdicts stored by the API")
    sub = p.add_subparsers(dest="feedback_command", metavar="ACTION", required=True)
    export = sub.add_parser("export", help="write the verdicts as a Parquet training table")
    export.add_argument("--output", required=True, help="FILE.parquet")
    export.add_argument("--db", help=f"default $CONTRABAND_FEEDBACK_DB or {DEFAULT_FEEDBACK_DB}")
    export.add_argument("--all", action="store_true",
                        help="keep every verdict (default: the latest per listing id)")
    export.set_defaults(handler=_feedback_export)


def _keys_file(value: str | None) -> Path:
    return Path(value or os.environ.get("CONTRABAND_API_KEYS_FILE") or DEFAULT_KEYS_FILE)


def docs_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/docs"


def uvicorn_log_config(level: str) -> dict:
    """uvicorn's own lines as JSON too, through the API's formatter."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "serve.api.logs.JsonFormatter"}},
        "handlers": {"stderr": handler},
        "loggers": {name: {"handlers": ["stderr"], "level": level, "propagate": False}
                    for name in ("uvicorn", "uvicorn.error")},
    }


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from serve.api.app import AUTH_OFF_WARNING, load_keys

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be within 1..65535, got {args.port}")
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    for flag, field in _SERVE_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            os.environ[f"CONTRABAND_{field.upper()}"] = str(value)
    if args.no_auth:
        os.environ["CONTRABAND_AUTH"] = "off"
    if args.log_text:
        os.environ["CONTRABAND_LOG_TEXT"] = "true"
    if args.no_market_adaptation:
        os.environ["CONTRABAND_MARKET_ADAPTATION"] = "false"
    settings = Settings()
    load_keys(settings)  # fail now, with the fix in the message, rather than in each worker
    if settings.target_prior:
        check_target_prior(settings)
    if not settings.auth_enabled:
        print(AUTH_OFF_WARNING, file=sys.stderr)
    print(f"contraband API: serving model {settings.model!r} with {args.workers} worker(s); "
          f"docs at {docs_url(args.host, args.port)}", flush=True)
    uvicorn.run("serve.api:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, access_log=False, log_level=settings.log_level.lower(),
                log_config=uvicorn_log_config(settings.log_level.upper()),
                timeout_graceful_shutdown=30)
    return 0


def check_target_prior(settings: Settings) -> None:
    """Refuse a target prior the served bundle cannot use, before any worker starts."""
    from model import Classifier
    from model.priors import target_weights

    info = Classifier.inspect(settings.model, settings.models_dir)
    target_weights(settings.target_prior, info.config, info.labels.names)


def _apikey_create(args: argparse.Namespace) -> int:
    path = _keys_file(args.keys_file)
    name = args.name or f"key-{len(read_keys_file(path)) + 1}"
    key = create_key(path, name, args.roles, args.rate_limit)
    print(key)
    print(f"stored the SHA-256 of key {name!r} (roles: {', '.join(sorted(set(args.roles)))}) in "
          f"{path}. This is the only time the key is shown; keep it secret.", file=sys.stderr)
    return 0


def _apikey_list(args: argparse.Namespace) -> int:
    path = _keys_file(args.keys_file)
    keys = read_keys_file(path)
    if not keys:
        print(f"no API keys in {path}")
    for key in keys:
        limit = "" if key.rate_limit_per_s is None else f"  {key.rate_limit_per_s:g} req/s"
        print(f"{key.name:24s} {','.join(sorted(key.roles))}{limit}")
    return 0


def _feedback_export(args: argparse.Namespace) -> int:
    from serve.api.export import export_parquet

    db = Path(args.db or os.environ.get("CONTRABAND_FEEDBACK_DB") or DEFAULT_FEEDBACK_DB)
    if not str(args.output).endswith(".parquet"):
        raise ValueError(f"--output must be a .parquet file, got {args.output}")
    count = export_parquet(db, Path(args.output), latest_only=not args.all)
    print(f"wrote {count} verdicts from {db} to {args.output}")
    return 0
