"""`python -m storepipe.emulators.tiktok_shop`: serve a generated TikTok Shop on localhost until interrupted."""

from __future__ import annotations

import argparse

from storepipe.emulators.tiktok_shop.config import DEFAULT_NOW, EmulatorConfig
from storepipe.emulators.tiktok_shop.server import serve


def main(argv: list[str] | None = None) -> None:
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(prog="python -m storepipe.emulators.tiktok_shop", description=__doc__)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--orders", type=int, default=defaults.orders, help="number of orders in the shop")
    parser.add_argument("--products", type=int, default=defaults.products)
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every API response")
    parser.add_argument("--app-key", default=defaults.app_key)
    parser.add_argument("--app-secret", default=defaults.app_secret)
    parser.add_argument("--rate-limit-qps", type=int, default=defaults.rate_limit_qps, help="0 = unlimited")
    parser.add_argument("--now", default=None, help=f"emulator clock start (default {DEFAULT_NOW})")
    parser.add_argument("--years", type=float, default=defaults.years, help="length of the generated history")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        seed=args.seed,
        orders=args.orders,
        products=args.products,
        app_key=args.app_key,
        app_secret=args.app_secret,
        latency_ms=args.latency_ms,
        rate_limit_qps=args.rate_limit_qps or None,
        now=args.now,
        years=args.years,
    )
    serve(config, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
