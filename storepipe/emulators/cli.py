"""Command-line flags every emulator's `python -m` entry point shares, and their mapping onto its config."""

from __future__ import annotations

import argparse
from typing import Any


def add_size_arguments(parser: argparse.ArgumentParser, seed: int, orders: int) -> None:
    """--seed and --orders."""
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--orders", type=int, default=orders, help="number of orders in the shop")


def add_listen_arguments(parser: argparse.ArgumentParser, port: int) -> None:
    """--port, --host and --latency-ms."""
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every API response")


def add_clock_arguments(parser: argparse.ArgumentParser, default_now: str, years: float) -> None:
    """--now, --years and --log-level."""
    parser.add_argument("--now", default=None, help=f"emulator clock start (default {default_now})")
    parser.add_argument("--years", type=float, default=years, help="length of the generated history")
    parser.add_argument("--log-level", default="warning")


def shared_config_options(args: argparse.Namespace) -> dict[str, Any]:
    """The EmulatorConfig keyword arguments that come from the shared flags."""
    return {
        "seed": args.seed,
        "orders": args.orders,
        "latency_ms": args.latency_ms,
        "now": args.now,
        "years": args.years,
    }


def add_webhook_arguments(parser: argparse.ArgumentParser, secret: bool) -> None:
    """--webhook-url, --sign-wrongly and (where the platform has per-webhook secrets) --webhook-secret."""
    parser.add_argument("--webhook-url", default=None, help="register this receiver for webhook deliveries")
    if secret:
        parser.add_argument("--webhook-secret", default=None, help="the webhook's signing secret")
    parser.add_argument(
        "--sign-wrongly", action="store_true", help="sign deliveries with a wrong key (forged-delivery tests)"
    )


def webhook_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """register_webhook keyword arguments from the webhook flags, None when no --webhook-url was given."""
    if not args.webhook_url:
        return None
    options: dict[str, Any] = {"url": args.webhook_url, "sign_wrongly": args.sign_wrongly}
    if getattr(args, "webhook_secret", None) is not None:
        options["secret"] = args.webhook_secret
    return options
