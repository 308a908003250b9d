"""`python -m storepipe.emulators.woocommerce`: the same flags as `storepipe emulator woocommerce`."""

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
from storepipe.emulators.woocommerce.config import DEFAULT_NOW, EmulatorConfig
from storepipe.emulators.woocommerce.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m storepipe.emulators.woocommerce", description=__doc__)
    add_size_arguments(parser, seed=1, orders=5000)
    add_listen_arguments(parser, port=8081)
    parser.add_argument("--version", dest="wc_version", default="9.4", help="emulated WooCommerce version")
    parser.add_argument("--consumer-key", default="ck_demo")
    parser.add_argument("--consumer-secret", default="cs_demo")
    parser.add_argument("--timezone", default="Europe/Berlin")
    parser.add_argument("--currency", default="EUR")
    add_clock_arguments(parser, default_now=DEFAULT_NOW, years=3.0)
    add_webhook_arguments(parser, secret=True)
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        **shared_config_options(args),
        version=args.wc_version,
        timezone=args.timezone,
        currency=args.currency,
        consumer_key=args.consumer_key,
        consumer_secret=args.consumer_secret,
    )
    serve(config, host=args.host, port=args.port, log_level=args.log_level, webhook=webhook_options(args))


if __name__ == "__main__":
    main()
