"""Render the registry and per-entity sync progress for `storepipe status` and `storepipe shops list`."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from rich.console import Console
from rich.progress_bar import ProgressBar
from rich.table import Table

from storepipe.shops import Shop, get_shop, list_shops
from storepipe.warehouse import tables

_STATUS_STYLE = {"Running": "cyan", "Completed": "green", "Paused": "yellow", "Failed": "red"}


def _console() -> Console:
    return Console(soft_wrap=False, width=140)


def render_shops(shops: list[Shop], console: Console | None = None) -> None:
    console = console or _console()
    if not shops:
        console.print("no shops registered; add one with `storepipe shops add`")
        return
    table = Table(title="shops")
    for column in ("key", "platform", "name", "url", "timezone", "currency", "credentials from", "enabled"):
        table.add_column(column)
    for s in shops:
        table.add_row(
            s.key,
            s.platform,
            s.display_name,
            s.base_url,
            s.timezone,
            s.currency,
            ", ".join(s.credentials_env.values()),
            "yes" if s.enabled else "no",
        )
    console.print(table)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def progress_table(rows: list[sa.Row]) -> Table:
    """One line per (shop, entity): status, a progress bar, counts, rate, ETA and the reason of a pause or failure."""
    table = Table(title="sync progress")
    for column in ("shop", "entity", "status", "progress", "processed", "total", "rate/s", "eta", "updated", "note"):
        table.add_column(column)
    now = datetime.now(UTC)
    for r in rows:
        style = _STATUS_STYLE.get(r.status, "")
        bar = ProgressBar(total=float(r.total or 0) or None, completed=float(r.processed), width=24)
        note = r.last_error if r.status == "Failed" else (r.status_reason or "")
        age = int((now - r.updated_at).total_seconds()) if r.updated_at else None
        table.add_row(
            r.shop_key,
            r.entity,
            f"[{style}]{r.status}[/]",
            bar,
            f"{r.processed:,}",
            f"{r.total:,}" if r.total is not None else "?",
            f"{r.rate_per_second:,.0f}" if r.rate_per_second else "",
            _eta(r.eta_seconds) if r.status == "Running" else "",
            f"{age}s ago" if age is not None else "",
            (note or "")[:60],
        )
    return table


def render_progress(rows: list[sa.Row], console: Console | None = None) -> None:
    console = console or _console()
    if not rows:
        console.print("no syncs recorded yet")
        return
    console.print(progress_table(rows))


def _progress_rows(engine: sa.Engine, shop_key: str | None) -> list[sa.Row]:
    t = tables.sync_progress
    query = sa.select(t).order_by(t.c.shop_key, t.c.started_at)
    if shop_key:
        query = query.where(t.c.shop_key == shop_key)
    with engine.connect() as conn:
        return list(conn.execute(query))


def show_status(engine: sa.Engine, shop_key: str | None = None) -> None:
    console = _console()
    shops = [get_shop(engine, shop_key)] if shop_key else list_shops(engine)
    render_shops(shops, console)
    rows = _progress_rows(engine, shop_key)
    render_progress(rows, console)
    for line in sync_lines(shops, rows):
        console.print(line)
    for line in marts_lines(engine, [s.key for s in shops]):
        console.print(line)
    for line in inbox_lines(engine, [s.key for s in shops]):
        console.print(line)


def sync_lines(shops: list[Shop], rows: list[sa.Row], now: datetime | None = None) -> list[str]:
    """Per shop: the last sync (when it finished, how it stands, its summary) and the next scheduled one."""
    from storepipe.automation.timing import TWICE_DAILY, next_tick

    upcoming = f"next sync {next_tick(TWICE_DAILY, now or datetime.now(UTC)):%Y-%m-%d %H:%M} UTC"
    by_shop: dict[str, list[sa.Row]] = {}
    for r in rows:
        by_shop.setdefault(r.shop_key, []).append(r)
    lines = []
    for shop in shops:
        plan = upcoming if shop.enabled else "disabled, no scheduled syncs"
        own = by_shop.get(shop.key, [])
        model = next((r for r in own if r.entity == "model"), None)
        # A later sync that failed or is running leaves the model row of the previous one: say so.
        failed = [r.entity for r in own if r.status == "Failed"]
        running = any(r.status in ("Running", "Paused") for r in own)
        state = f"Failed in {', '.join(failed)}" if failed else "Running" if running else None
        if model is None or model.finished_at is None:
            lines.append(f"{shop.key}: never synced{f' ({state})' if state else ''}; {plan}")
            continue
        summary = f", {summary_line(model.summary)}" if model.summary else ""
        lines.append(
            f"{shop.key}: last sync {model.finished_at:%Y-%m-%d %H:%M} UTC {model.status}{summary}"
            f"{f'; now {state}' if state else ''}; {plan}"
        )
    return lines


def marts_lines(engine: sa.Engine, shop_keys: list[str]) -> list[str]:
    """When each shop's marts were last refreshed, and how they count orders (docs/metrics.md)."""
    sql = sa.text(
        "SELECT m.shop_key, m.refreshed_at AT TIME ZONE 'UTC', s.counted_status_groups, s.date_basis "
        "FROM ops.mart_state m LEFT JOIN ops.metric_settings s USING (shop_key) "
        "WHERE m.shop_key = ANY(:keys) ORDER BY 1"
    )
    with engine.connect() as conn:
        rows = conn.execute(sql, {"keys": shop_keys}).all()
    return [
        f"{key}: marts refreshed {refreshed:%Y-%m-%d %H:%M} UTC, counting {', '.join(groups or ['paid', 'refunded'])} "
        f"orders by their {basis or 'created'} date"
        for key, refreshed, groups, basis in rows
    ]


def inbox_lines(engine: sa.Engine, shop_keys: list[str]) -> list[str]:
    """The webhook backlog of each shop that has one: deliveries waiting for a run, and how long the oldest has."""
    from storepipe.webhooks.inbox import backlog

    now = datetime.now(UTC)
    return [
        f"{b.shop_key}: {b.pending:,} webhook deliveries pending"
        + (f", oldest {_eta((now - b.oldest_pending).total_seconds())} ago" if b.oldest_pending else "")
        + (f", {b.claimed:,} being applied" if b.claimed else "")
        for b in backlog(engine, shop_keys)
    ]


def summary_line(summary: dict) -> str:
    """The sync summary users look for: orders synced, customers updated, discrepancies, duration."""

    def figure(key: str) -> str:
        value = summary.get(key)
        return "?" if value is None else f"{value:,}"

    return (
        f"{figure('orders_synced')} orders synced, {figure('customers_updated')} customers updated, "
        f"{figure('open_discrepancies')} open discrepancies, {summary.get('duration_seconds', '?')} s"
    )


def watch_status(engine: sa.Engine, shop_key: str | None = None, interval: float = 2.0) -> None:
    """Live progress bars, redrawn every `interval` seconds until Ctrl-C."""
    import time

    from rich.live import Live

    if shop_key:
        get_shop(engine, shop_key)  # fail on an unknown shop before drawing anything

    def frame() -> Table:
        return progress_table(_progress_rows(engine, shop_key))

    try:
        with Live(frame(), console=_console(), refresh_per_second=4) as live:
            while True:
                time.sleep(interval)
                live.update(frame())
    except KeyboardInterrupt:
        pass
