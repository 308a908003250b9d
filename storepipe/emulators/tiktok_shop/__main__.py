"""`python -m storepipe.emulators.tiktok_shop`: serve a generated TikTok Shop on localhost until interrupted."""

from __future__ import annotations

import argparse

from storepipe.emulators.cli import (
    add_clock_arguments,
    add_listen_arguments,
    add_size_arguments,
    add_webhook_arguments,
    shared_config_options,
    webhook_options,
)
from storepipe.emulators.tiktok_shop.config import DEFAULT_NOW, EmulatorConfig
from storepipe.emulators.tiktok_shop.server import serve


def main(argv: list[str] | None = None) -> None:
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(prog="python -m storepipe.emulators.tiktok_shop", description=__doc__)
    add_size_arguments(parser, seed=defaults.seed, orders=defaults.orders)
    parser.add_argument("--products", type=int, default=defaults.products)
    add_listen_arguments(parser, port=8082)
    parser.add_argument("--app-key", default=defaults.app_key)
    parser.add_argument("--app-secret", default=defaults.app_secret)
    parser.add_argument("--rate-limit-qps", type=int, default=defaults.rate_limit_qps, help="0 = unlimited")
    add_clock_arguments(parser, default_now=DEFAULT_NOW, years=defaults.years)
    add_webhook_arguments(parser, secret=False)
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        **shared_config_options(args),
        products=args.products,
        app_key=args.app_key,
        app_secret=args.app_secret,
        rate_limit_qps=args.rate_limit_qps or None,
    )
    serve(config, host=args.host, port=args.port, log_level=args.log_level, webhook=webhook_options(args))


if __name__ == "__main__":
    main()
