"""`python -m storepipe.emulators.woocommerce`: the same flags as `storepipe emulator woocommerce`."""

from __future__ import annotations

import argparse

from storepipe.emulators.woocommerce.config import DEFAULT_NOW, EmulatorConfig
from storepipe.emulators.woocommerce.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m storepipe.emulators.woocommerce", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--orders", type=int, default=5000, help="number of orders in the shop")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every API response")
    parser.add_argument("--version", dest="wc_version", default="9.4", help="emulated WooCommerce version")
    parser.add_argument("--consumer-key", default="ck_demo")
    parser.add_argument("--consumer-secret", default="cs_demo")
    parser.add_argument("--timezone", default="Europe/Berlin")
    parser.add_argument("--currency", default="EUR")
    parser.add_argument("--now", default=None, help=f"emulator clock start (default {DEFAULT_NOW})")
    parser.add_argument("--years", type=float, default=3.0, help="length of the generated history")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        seed=args.seed,
        orders=args.orders,
        version=args.wc_version,
        timezone=args.timezone,
        currency=args.currency,
        consumer_key=args.consumer_key,
        consumer_secret=args.consumer_secret,
        latency_ms=args.latency_ms,
        now=args.now,
        years=args.years,
    )
    serve(config, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
