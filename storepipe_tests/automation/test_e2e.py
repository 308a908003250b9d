"""End to end on the embedded PostgreSQL: Dagster webserver and daemon, the webhook receiver, a new shop, a webhook.

`storepipe dev` (webserver + daemon) and `storepipe webhooks serve` run in subprocesses, as a deployment runs
them. A WooCommerce emulator shop is registered; the new-shop sensor starts its first import, which we follow
through Dagster's GraphQL client. The emulator then sends a signed order.updated webhook through the receiver,
the inbox sensor starts the apply run and the order is cancelled in the marts; a forged delivery is refused.
Finally both processes stop on SIGINT, leaving nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import psutil
import pytest
import sqlalchemy as sa
from dagster_graphql import DagsterGraphQLClient

from storepipe.emulators.woocommerce import EmulatorConfig, RunningEmulator, run_in_thread
from storepipe.settings import Settings
from storepipe.shops import add_shop, validate_shop
from storepipe_tests.test_dev import _free_port, _wait_up
from storepipe_tests.webhooks.conftest import control, delivered
from storepipe_tests.webhooks.test_receiver import woo_post

KEY, SECRET, HOOK_SECRET = "ck_e2e", "cs_e2e", "whsec_e2e"
# dagster-graphql calls gql the pre-4.0 way; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gql.*")


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "storepipe.cli", *args],
        env=os.environ.copy(),  # the credentials of the shop and what prepare_environment exported
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _family(proc: subprocess.Popen[str]) -> list[int]:
    return [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _wait_for(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


@pytest.fixture
def store() -> Iterator[RunningEmulator]:
    with run_in_thread(EmulatorConfig(seed=5, orders=150, consumer_key=KEY, consumer_secret=SECRET)) as emu:
        yield emu


@pytest.mark.slow
def test_new_shop_imports_through_the_daemon_and_a_signed_webhook_reaches_the_marts(
    settings: Settings, engine: sa.Engine, instance, store: RunningEmulator
) -> None:
    os.environ.update(E2E_KEY=KEY, E2E_SECRET=SECRET, E2E_WEBHOOK_SECRET=HOOK_SECRET)
    port, hooks_port = _free_port(), _free_port()
    dev = _start("dev", "--port", str(port))
    receiver = _start("webhooks", "serve", "--port", str(hooks_port))
    procs = [dev, receiver]
    try:
        _wait_up(f"http://127.0.0.1:{port}/server_info", dev)
        _wait_up(f"http://127.0.0.1:{hooks_port}/webhooks/health", receiver)
        shop = validate_shop(
            platform="woocommerce", key="e2e", url=store.base_url, timezone="Europe/Berlin", currency="EUR",
            credentials_env="E2E",
        )  # fmt: skip
        add_shop(engine, instance, shop)

        # The new-shop sensor's run, followed through the webserver's GraphQL API.
        def first_import() -> str | None:
            runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": "e2e", "storepipe/trigger": "new_shop"}))
            return runs[0].run_id if runs else None

        run_id = _wait_for("the new-shop sensor's run", first_import, 60)
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        finished = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
        status = _wait_for("the first import", lambda: (s := client.get_run_status(run_id)) in finished and s, 120)
        assert status == dg.DagsterRunStatus.SUCCESS
        assert len(instance.get_runs(dg.RunsFilter(tags={"dagster/partition": "e2e"}))) == 1  # imported once

        def order_status(order_id: int) -> tuple[str, str] | None:
            with engine.connect() as conn:
                return conn.execute(
                    sa.text(
                        "SELECT o.status, f.status_group FROM core.orders o "
                        "JOIN marts.order_facts f USING (shop_key, order_id) WHERE shop_key = 'e2e' AND order_id = :o"
                    ),
                    {"o": str(order_id)},
                ).first()

        with engine.connect() as conn:
            order_id = conn.execute(
                sa.text(
                    "SELECT max(order_id::int) FROM marts.order_facts WHERE shop_key = 'e2e' AND status_group = 'paid'"
                )
            ).scalar_one()

        # A signed delivery from the store: the inbox sensor's apply run cancels the order in the marts.
        url = f"http://127.0.0.1:{hooks_port}/webhooks/woocommerce/e2e"
        control(store, "POST", "/webhooks", json={"url": url, "secret": HOOK_SECRET})
        control(store, "PATCH", f"/orders/{order_id}", json={"status": "cancelled"})
        assert "order.updated" in [d["topic"] for d in delivered(store)]
        # The apply run writes core first, then refreshes the marts: wait for both.
        _wait_for("the webhook in the marts", lambda: tuple(order_status(order_id)) == ("cancelled", "cancelled"), 90)

        # A forged delivery is refused and stored nowhere.
        body = json.dumps({"id": order_id, "status": "completed"}).encode()
        forged = woo_post(
            f"http://127.0.0.1:{hooks_port}", body, shop="e2e", secret="not-the-secret", delivery="f" * 32
        )
        assert forged.status_code == 401
        with engine.connect() as conn:
            assert (
                conn.execute(
                    sa.text("SELECT count(*) FROM ops.webhook_inbox WHERE delivery_id = :d"), {"d": "f" * 32}
                ).scalar_one()
                == 0
            )
        assert tuple(order_status(order_id)) == ("cancelled", "cancelled")

        # Both stop on Ctrl-C, with every child process (webserver, daemon, code server, run workers).
        family = _family(dev) + _family(receiver)
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            proc.wait(60)
        _wait_for("every process to exit", lambda: not _alive(family), 30)
        outputs = [p.stdout.read() if p.stdout else "" for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
    finally:
        _stop_all(procs)


def _stop_all(procs: list[subprocess.Popen[str]]) -> None:
    """After a failure: Ctrl-C, then kill whatever is left of each process tree.

    Killing the process group is not enough: `storepipe dev` starts `dagster dev` in a session of its own.
    """
    running = [p for p in procs if p.poll() is None]
    family = [pid for p in running for pid in _family(p)]
    for proc in running:
        proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 30
    while _alive(family) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in _alive(family):
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
    for proc in procs:
        proc.wait(10)
