"""The `storepipe` command: database, shop registry, status, the Dagster UI and the API emulators."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

from storepipe.loyalty.cli import loyalty

if TYPE_CHECKING:  # the CLI imports the rest lazily: `storepipe --help` stays fast
    from storepipe.shops import Shop

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int = 2) -> None:
    """One line on stderr, then exit: bad input and configuration problems are not tracebacks."""
    click.echo(f"storepipe: error: {message}", err=True)
    sys.exit(code)


def _clean_errors(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from storepipe.http import AuthError
        from storepipe.shops import ShopConfigError
        from storepipe.warehouse.server import DatabaseConfigError

        try:
            return func(*args, **kwargs)
        except (ShopConfigError, DatabaseConfigError, AuthError) as exc:  # messages name the fix
            _fail(str(exc))

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="storepipe")
def main() -> None:
    """storepipe: import WooCommerce and TikTok Shop history into PostgreSQL and compute its analytics.

    The warehouse is STOREPIPE_DATABASE_URL, or an embedded PostgreSQL under STOREPIPE_HOME
    (default ~/.storepipe) that is started on first use and reused by every process.
    """


# ---------------------------------------------------------------- db


@main.group()
def db() -> None:
    """The warehouse database."""


@db.command("upgrade")
@_clean_errors
def db_upgrade() -> None:
    """Apply pending migrations (also done automatically on first use)."""
    from storepipe.warehouse.engine import warehouse_engine
    from storepipe.warehouse.migrate import current_revision

    engine = warehouse_engine()
    click.echo(f"warehouse at revision {current_revision(engine)}")


@db.command("url")
@click.option("--dagster", is_flag=True, help="Print Dagster's storage URL instead of the warehouse's.")
@_clean_errors
def db_url(dagster: bool) -> None:
    """Print the connection URL (starting the embedded server if needed)."""
    from storepipe.warehouse.server import resolve_databases

    dbs = resolve_databases()
    click.echo(dbs.dagster_url if dagster else dbs.warehouse_url)


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL server (no-op with STOREPIPE_DATABASE_URL)."""
    from storepipe.settings import get_settings
    from storepipe.warehouse.server import stop_embedded

    settings = get_settings()
    if not settings.embedded:
        click.echo("STOREPIPE_DATABASE_URL is set: nothing embedded to stop")
        return
    click.echo("stopped" if stop_embedded(settings.pgdata) else "not running")


# ---------------------------------------------------------------- shops


@main.group()
def shops() -> None:
    """The shop registry: each shop is one partition of its platform's assets."""


shops.add_command(loyalty)  # storepipe shops loyalty ... (storepipe/loyalty/cli.py)


@shops.command("add")
@click.option("--platform", required=True, help="woocommerce or tiktok_shop")
@click.option("--key", required=True, help="Stable shop key, the partition key; never reused.")
@click.option("--url", required=True, help="The shop's home URL (WooCommerce) or API base URL.")
@click.option("--timezone", required=True, help="IANA timezone of the shop, e.g. Europe/Berlin.")
@click.option("--currency", required=True, help="ISO 4217 currency of the shop, e.g. EUR.")
@click.option(
    "--credentials-env",
    required=True,
    metavar="PREFIX",
    help="Credentials are read from PREFIX_KEY and PREFIX_SECRET at run time; only the names are stored.",
)
@click.option("--name", "display_name", default=None, help="Display name (default: the key).")
@_clean_errors
def shops_add(**fields: str | None) -> None:
    """Register a shop and add its Dagster partition."""
    from storepipe.shops import add_shop, validate_shop

    # Validate everything before touching the database or Dagster: bad input writes nothing.
    shop = validate_shop(**fields)  # type: ignore[arg-type]
    from storepipe.instance import get_instance
    from storepipe.warehouse.engine import warehouse_engine

    shop = add_shop(warehouse_engine(), get_instance(), shop)
    click.echo(f"added {shop.platform} shop {shop.key!r} ({shop.base_url}, {shop.timezone}, {shop.currency})")


@shops.command("list")
@_clean_errors
def shops_list() -> None:
    """List registered shops."""
    from storepipe.shops import list_shops
    from storepipe.status import render_shops
    from storepipe.warehouse.engine import warehouse_engine

    render_shops(list_shops(warehouse_engine()))


def _set_enabled(key: str, enabled: bool) -> None:
    from storepipe.shops import set_enabled
    from storepipe.warehouse.engine import warehouse_engine

    shop = set_enabled(warehouse_engine(), key, enabled)
    click.echo(f"{'enabled' if shop.enabled else 'disabled'} shop {shop.key!r}")


@shops.command("disable")
@click.argument("key")
@_clean_errors
def shops_disable(key: str) -> None:
    """Stop syncing a shop; its data, partition and history stay."""
    _set_enabled(key, False)


@shops.command("enable")
@click.argument("key")
@_clean_errors
def shops_enable(key: str) -> None:
    """Resume syncing a disabled shop."""
    _set_enabled(key, True)


@shops.command("metrics")
@click.argument("key")
@click.option("--count", "groups", help="Status groups whose orders count, comma-separated (e.g. paid,refunded).")
@click.option("--date-basis", type=click.Choice(["created", "paid"]), help="Which date puts an order on a day.")
@_clean_errors
def shops_metrics(key: str, groups: str | None, date_basis: str | None) -> None:
    """Show or change how a shop's marts count orders (docs/metrics.md); a change rebuilds its marts."""
    from storepipe.marts.settings import MetricSettings, get_metric_settings, set_metric_settings
    from storepipe.shops import get_shop
    from storepipe.warehouse.engine import warehouse_engine

    engine = warehouse_engine()
    shop = get_shop(engine, key)
    with engine.connect() as conn:
        current = get_metric_settings(conn, shop.key)
    if groups or date_basis:
        chosen = tuple(g.strip() for g in groups.split(",") if g.strip()) if groups else current.counted_status_groups
        current = MetricSettings(chosen, date_basis or current.date_basis)
        set_metric_settings(engine, shop.key, current)
    click.echo(
        f"shop {shop.key!r}: counts {', '.join(current.counted_status_groups)} orders by their "
        f"{current.date_basis} date"
    )


@shops.command("connect")
@click.argument("key")
@click.option("--auth-code", required=True, help="The code TikTok sent to the app's redirect URL after consent.")
@_clean_errors
def shops_connect(key: str, auth_code: str) -> None:
    """Connect a TikTok shop: exchange the consent code for its tokens (kept in a private file, never the DB)."""
    from storepipe.shops import get_platform_shop
    from storepipe.sources.tiktok_shop.importer import connect_shop
    from storepipe.sources.tiktok_shop.tokens import token_path
    from storepipe.warehouse.engine import warehouse_engine

    shop = get_platform_shop(warehouse_engine(), key, "tiktok_shop")
    connect_shop(shop, auth_code)
    click.echo(f"shop {key!r} connected; tokens in {token_path(shop)} (mode 0600), refreshed automatically")


@shops.command("reconcile")
@click.option("--prune", is_flag=True, help="Delete partitions that have no shop in the registry.")
@_clean_errors
def shops_reconcile(prune: bool) -> None:
    """Repair drift between the registry and Dagster's partitions (exit 1 if orphans remain)."""
    from storepipe.instance import get_instance
    from storepipe.shops import reconcile
    from storepipe.warehouse.engine import warehouse_engine

    drift = reconcile(warehouse_engine(), get_instance(), prune=prune)
    for platform, keys in drift.added_partitions.items():
        if keys:
            click.echo(f"{platform}: added missing partitions {', '.join(keys)}")
    orphans_left = False
    for platform, keys in drift.orphan_partitions.items():
        if keys:
            verb = "deleted" if prune else "found"
            click.echo(f"{platform}: {verb} partitions without a shop: {', '.join(keys)}")
            orphans_left = orphans_left or not prune
    if drift.clean:
        click.echo("registry and partitions agree")
    if orphans_left:
        sys.exit(1)


# ---------------------------------------------------------------- import


# Each lane's job and the resource that takes its run config.
LANE_JOBS = {
    "woocommerce": ("woocommerce_shop_sync", "woocommerce_sync"),
    "tiktok_shop": ("tiktok_shop_shop_sync", "tiktok_shop_sync"),
}


@main.command("import")
@click.argument("shop")
@click.option("--full", is_flag=True, help="Re-read every record (default: what changed since the last sync).")
@click.option(
    "--window", type=click.Choice(["30d", "90d", "365d", "all"]), help="Only orders of the last N shop-local days."
)
@click.option("--since", metavar="DATE", help="Only orders created on or after this shop-local date (YYYY-MM-DD).")
@click.option("--lookback-hours", default=72, show_default=True, help="Overlap of an incremental sync.")
@click.option("--concurrency", default=4, show_default=True, help="Pages fetched at once.")
@click.option("--page-size", default=100, show_default=True, type=click.IntRange(1, 100), help="Records per page.")
@click.option("--max-rps", type=float, default=None, help="At most this many requests per second to the shop.")
@_clean_errors
def import_shop(
    shop: str,
    full: bool,
    window: str | None,
    since: str | None,
    lookback_hours: int,
    concurrency: int,
    page_size: int,
    max_rps: float | None,
) -> None:
    """Sync one shop now: runs its lane's job in this process, recorded in the Dagster instance (visible in the UI)."""
    from storepipe.instance import get_instance, process_tags, reap_dead_runs
    from storepipe.shops import get_shop
    from storepipe.status import show_status
    from storepipe.warehouse.engine import warehouse_engine

    if window and since:
        _fail("--window and --since exclude each other; give one")
    engine = warehouse_engine()
    registered = get_shop(engine, shop)
    if not registered.enabled:
        _fail(f"shop {shop!r} is disabled; `storepipe shops enable {shop}` first")
    job_name, resource = LANE_JOBS[registered.platform]
    registered.credentials()  # fail fast, naming the variable, before a run is created
    config = {
        "mode": "full" if full else "incremental",
        "lookback_hours": lookback_hours,
        "concurrency": concurrency,
        "page_size": page_size,
    }
    if max_rps:
        # WooCommerce: per shop; TikTok Shop: per API, whole requests (its limits are counted per second).
        config["requests_per_second"] = max_rps if registered.platform == "woocommerce" else max(1, int(max_rps))
    if window:
        config["window"] = {"30d": "last_30_days", "90d": "last_90_days", "365d": "last_365_days", "all": "all"}[window]
    if since:
        config["since"] = since
    from storepipe.definitions import defs

    job = defs().resolve_job_def(job_name)
    instance = get_instance()
    for run_id in reap_dead_runs(instance, shop):
        click.echo(f"run {run_id} of {shop!r} lost its process (killed?): marked failed; this import resumes it")
    result = job.execute_in_process(
        instance=instance,
        partition_key=shop,
        run_config={"resources": {resource: {"config": config}}},
        tags={"storepipe/trigger": "cli", **process_tags()},
        raise_on_error=False,
    )
    show_status(engine, shop)
    if not result.success:
        errors = [e for e in result.all_events if e.is_failure]
        reason = errors[0].message if errors else "see the run in the Dagster UI"
        _fail(f"import of {shop!r} failed (run {result.run_id}): {reason}", code=1)
    click.echo(f"import of {shop!r} completed (run {result.run_id})")


# ---------------------------------------------------------------- status


@main.command("status")
@click.argument("shop", required=False)
@click.option("--watch", is_flag=True, help="Redraw live progress bars until Ctrl-C.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between redraws with --watch.")
@_clean_errors
def status(shop: str | None, watch: bool, interval: float) -> None:
    """Show the registry and each shop's sync progress (with --watch: live)."""
    from storepipe.status import show_status, watch_status
    from storepipe.warehouse.engine import warehouse_engine

    if watch:
        watch_status(warehouse_engine(), shop, interval)
    else:
        show_status(warehouse_engine(), shop)


# ---------------------------------------------------------------- webhooks


@main.group()
def webhooks() -> None:
    """The webhook receiver: WooCommerce and TikTok Shop deliveries into ops.webhook_inbox (docs/webhooks.md)."""


@webhooks.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0: all).")
@click.option("--port", default=8787, show_default=True, help="Port to listen on.")
@_clean_errors
def webhooks_serve(host: str, port: int) -> None:
    """Receive webhooks at POST /webhooks/<woocommerce|tiktok_shop>/<shop_key> until Ctrl-C."""
    from storepipe.warehouse.engine import warehouse_engine
    from storepipe.webhooks.server import serve

    # uvicorn re-raises Ctrl-C after its graceful shutdown: that is a clean stop (exit 0), not click's "Aborted!".
    with contextlib.suppress(KeyboardInterrupt):
        serve(warehouse_engine(), host=host, port=port)


# ---------------------------------------------------------------- dev


def _default_signals() -> None:
    # A parent started from a non-interactive shell hands SIG_IGN down; Dagster then ignores
    # SIGINT and SIGTERM (DESIGN.md). Reset them so the webserver and daemon can be stopped.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop_group(proc: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


@main.command("dev")
@click.option("--port", default=3000, show_default=True, help="Port of the Dagster UI.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--demo", is_flag=True, help="Also run WooCommerce and TikTok Shop emulators as shops 'demo' and 'demo-tiktok'."
)
@click.option("--demo-port", default=8081, show_default=True, help="Port of the demo WooCommerce emulator.")
@click.option("--demo-tiktok-port", default=8082, show_default=True, help="Port of the demo TikTok Shop emulator.")
@click.option("--demo-orders", default=5000, show_default=True, help="Size of the demo shops.")
@_clean_errors
def dev(port: int, host: str, demo: bool, demo_port: int, demo_tiktok_port: int, demo_orders: int) -> None:
    """Start (or reuse) the database, then run the Dagster webserver and daemon until Ctrl-C."""
    from storepipe.instance import prepare_environment, project_file
    from storepipe.warehouse.engine import warehouse_engine

    env = prepare_environment()
    warehouse_engine()  # migrations before any process reads the warehouse
    children: list[subprocess.Popen[bytes]] = []
    if demo:
        children.append(_start_demo_shop(demo_port, demo_orders))
        children.append(_start_demo_tiktok_shop(demo_tiktok_port, demo_orders))
    cmd = [
        sys.executable, "-m", "dagster", "dev",
        "-w", str(project_file("workspace.yaml")), "-h", host, "-p", str(port),
    ]  # fmt: skip
    click.echo(f"Dagster UI on http://{host}:{port} (DAGSTER_HOME={env['DAGSTER_HOME']}); Ctrl-C stops it")
    children.append(subprocess.Popen(cmd, env=os.environ.copy(), preexec_fn=_default_signals, start_new_session=True))
    if demo:
        # The demo's first import is the new-shop sensor's (RUNNING by default): queueing one here as well
        # raced it and imported the demo shop twice.
        click.echo(
            f"demo: shops {DEMO_SHOP!r} and {DEMO_TIKTOK_SHOP!r} are imported by the new-shop sensors; "
            f"watch http://{host}:{port}/runs"
        )

    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.5)
    finally:
        for child in reversed(children):
            _stop_group(child)
    failed = [c for c in children if c.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL)]
    if failed and not stopping:
        _fail(f"{failed[0].args[0]} exited with {failed[0].returncode}", code=1)


DEMO_SHOP = "demo"
DEMO_CREDENTIALS_PREFIX = "STOREPIPE_DEMO"


def _demo_shop(**fields: str) -> Shop:
    """The demo shop `fields["key"]`, registered (with its partition) the first time the demo starts."""
    from storepipe.instance import get_instance
    from storepipe.shops import ShopConfigError, add_shop, get_shop, validate_shop
    from storepipe.warehouse.engine import warehouse_engine

    engine = warehouse_engine()
    try:
        return get_shop(engine, fields["key"])
    except ShopConfigError:
        return add_shop(engine, get_instance(), validate_shop(**fields))


def _start_demo_shop(port: int, orders: int) -> subprocess.Popen[bytes]:
    """Serve a seeded WooCommerce emulator and register it as shop 'demo' (once)."""

    os.environ.setdefault(f"{DEMO_CREDENTIALS_PREFIX}_KEY", "ck_demo")
    os.environ.setdefault(f"{DEMO_CREDENTIALS_PREFIX}_SECRET", "cs_demo")
    emulator = subprocess.Popen(
        [
            sys.executable, "-m", "storepipe.cli", "emulator", "woocommerce",
            "--seed", "1", "--orders", str(orders), "--port", str(port),
            "--consumer-key", os.environ[f"{DEMO_CREDENTIALS_PREFIX}_KEY"],
            "--consumer-secret", os.environ[f"{DEMO_CREDENTIALS_PREFIX}_SECRET"],
        ],
        start_new_session=True,
    )  # fmt: skip
    _demo_shop(
        platform="woocommerce", key=DEMO_SHOP, url=f"http://127.0.0.1:{port}", timezone="Europe/Berlin",
        currency="EUR", credentials_env=DEMO_CREDENTIALS_PREFIX, display_name="Demo shop (emulated WooCommerce)",
    )  # fmt: skip
    click.echo(f"demo shop {DEMO_SHOP!r}: WooCommerce emulator on http://127.0.0.1:{port}")
    return emulator


DEMO_TIKTOK_SHOP = "demo-tiktok"
DEMO_TIKTOK_PREFIX = "STOREPIPE_DEMO_TT"


def _start_demo_tiktok_shop(port: int, orders: int) -> subprocess.Popen[bytes]:
    """Serve a seeded TikTok Shop emulator, register it as shop 'demo-tiktok' (once) and connect it.

    The emulator keeps its tokens in memory, so the shop is connected again with a fresh consent code each
    time the demo starts (what a seller's re-authorization does)."""
    import requests

    from storepipe.sources.tiktok_shop.importer import connect_shop

    os.environ.setdefault(f"{DEMO_TIKTOK_PREFIX}_KEY", "6a1b2c3d4e5f6")  # the emulator's default app
    os.environ.setdefault(f"{DEMO_TIKTOK_PREFIX}_SECRET", "tts_demo_app_secret")
    emulator = subprocess.Popen(
        [
            sys.executable, "-m", "storepipe.cli", "emulator", "tiktok-shop", "--seed", "1",
            "--orders", str(orders), "--port", str(port),
            "--app-key", os.environ[f"{DEMO_TIKTOK_PREFIX}_KEY"],
            "--app-secret", os.environ[f"{DEMO_TIKTOK_PREFIX}_SECRET"],
        ],
        start_new_session=True,
    )  # fmt: skip
    control = f"http://127.0.0.1:{port}/_emulator"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and emulator.poll() is None:
        try:
            code = requests.post(f"{control}/auth_codes", timeout=2).json()["auth_code"]
            break
        except requests.RequestException:
            time.sleep(0.3)
    else:
        click.echo("demo: the TikTok Shop emulator did not start; the demo has only the WooCommerce shop", err=True)
        return emulator
    shop = _demo_shop(
        platform="tiktok_shop", key=DEMO_TIKTOK_SHOP, url=f"http://127.0.0.1:{port}", timezone="America/Los_Angeles",
        currency="USD", credentials_env=DEMO_TIKTOK_PREFIX, display_name="Demo shop (emulated TikTok Shop)",
    )  # fmt: skip
    connect_shop(shop, code)
    click.echo(f"demo shop {DEMO_TIKTOK_SHOP!r}: TikTok Shop emulator on http://127.0.0.1:{port}")
    return emulator


# ---------------------------------------------------------------- emulators


@main.group()
def emulator() -> None:
    """Simulated shop APIs for tests, demos and benchmarks."""


@emulator.command("woocommerce")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--orders", default=5000, show_default=True, type=int, help="Number of orders in the shop.")
@click.option("--port", default=8081, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--latency-ms", default=0, show_default=True, type=int, help="Added to every response.")
@click.option("--version", "version", default="9.4", show_default=True, help="Emulated WooCommerce version.")
@click.option("--consumer-key", default="ck_demo", show_default=True)
@click.option("--consumer-secret", default="cs_demo", show_default=True)
@click.option("--timezone", default="Europe/Berlin", show_default=True)
@click.option("--currency", default="EUR", show_default=True)
def emulator_woocommerce(host: str, port: int, **config: str | int) -> None:
    """Serve the WooCommerce REST API (wc/v3) of a deterministic, generated shop."""
    from storepipe.emulators.woocommerce import EmulatorConfig, serve

    serve(EmulatorConfig(**config), host=host, port=port)  # type: ignore[arg-type]


@emulator.command(
    "tiktok-shop", context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def emulator_tiktok_shop(args: tuple[str, ...]) -> None:
    """Serve the TikTok Shop Open API of a generated shop (--seed, --orders, --port, ...; --help lists them)."""
    from storepipe.emulators.tiktok_shop.__main__ import main as serve_tiktok

    serve_tiktok(list(args))


if __name__ == "__main__":
    main()
