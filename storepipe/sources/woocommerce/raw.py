"""Writes WooCommerce JSON arrays (a listing page, a webhook batch) into raw.woocommerce_<entity> in one statement.

PostgreSQL splits the array itself (jsonb_array_elements), so an order payload never becomes Python objects on
its way to raw: parsing a 400 KB page with orjson and serialising its records again cost the importer ~6 ms of
CPU per page, and the COPY into a staging table made PostgreSQL compress every payload twice (bench/raw_pages.py).

The rules for a raw row live here and only here:
  - a record needs an integer `id`, otherwise it is quarantined with its reason;
  - its version is `date_modified_gmt`, or `date_created_gmt` when that is missing or malformed;
  - `parent_id` is the listing's parent (variations of a product, refunds of an order) or, for entities that
    have a parent, the record's own `parent_id` (store-wide /refunds);
  - a record with status `trash` is marked deleted at its modification time;
  - the merge is monotonic: a newer version replaces, an equal one only when the content differs, an older
    one never; within one array the newest copy of an id wins.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import orjson
import sqlalchemy as sa
from psycopg import errors as pg_errors

from storepipe.sources.bookkeeping import quarantine
from storepipe.sources.woocommerce.streams import BY_NAME
from storepipe.warehouse.upsert import UpsertResult

NO_ID = "record has no integer id"


class InvalidJson(ValueError):
    """PostgreSQL refused the array as JSON (a body cut short behind a 200): fetch it again."""


@dataclass(frozen=True)
class ArrayWrite:
    """What writing one array did."""

    listed: int  # elements in the array
    written: UpsertResult  # of the records with an id (after known_only)
    not_imported: int  # known_only: records raw did not have
    quarantined: int


@cache
def _statement(table: str) -> str:
    # `elems` is materialised: it is read three times and jsonb_array_elements must run once. `ok` is never
    # NULL (an element without `id`, or not an object, has a NULL id type): NOT ok must catch it.
    # Ids: a JSON integer within bigint (a float or a string id is not an id). Dates: core.try_utc, the same
    # safe cast the model uses, on the first 19 characters ('YYYY-MM-DDTHH:MM:SS', naive UTC).
    return f"""
WITH elems AS MATERIALIZED (
    SELECT e, coalesce(jsonb_typeof(e -> 'id') = 'number' AND (e ->> 'id') ~ '^-?[0-9]{{1,18}}$', false) AS ok
    FROM jsonb_array_elements(CAST(%(body)s AS jsonb)) AS e
), fresh AS (
    SELECT DISTINCT ON (id) * FROM (
        SELECT (e ->> 'id')::bigint AS id,
               coalesce(
                   %(parent_id)s::bigint,
                   CASE WHEN %(parent_from_record)s AND (e ->> 'parent_id') ~ '^-?[0-9]{{1,18}}$'
                             AND jsonb_typeof(e -> 'parent_id') = 'number'
                        THEN (e ->> 'parent_id')::bigint END
               ) AS parent_id,
               coalesce(core.try_utc(left(e ->> 'date_modified_gmt', 19)),
                        core.try_utc(left(e ->> 'date_created_gmt', 19))) AS modified_gmt,
               e AS payload,
               e ->> 'status' = 'trash' AS trashed
        FROM elems WHERE ok
    ) AS records
    ORDER BY id, modified_gmt DESC NULLS LAST
), kept AS (
    SELECT * FROM fresh
    WHERE NOT %(known_only)s
       OR EXISTS (SELECT 1 FROM raw.{table} AS k WHERE k.shop_key = %(shop_key)s AND k.id = fresh.id)
), merged AS (
    INSERT INTO raw.{table} AS t (shop_key, id, parent_id, modified_gmt, payload, fetched_at, deleted_at)
    SELECT %(shop_key)s, id, parent_id, modified_gmt, payload, %(fetched_at)s,
           CASE WHEN trashed THEN coalesce(modified_gmt, %(fetched_at)s) END
    FROM kept
    ON CONFLICT (shop_key, id) DO UPDATE SET
        parent_id = EXCLUDED.parent_id, modified_gmt = EXCLUDED.modified_gmt, payload = EXCLUDED.payload,
        fetched_at = EXCLUDED.fetched_at, deleted_at = EXCLUDED.deleted_at
    WHERE EXCLUDED.modified_gmt > t.modified_gmt
       OR (t.modified_gmt IS NULL AND EXCLUDED.modified_gmt IS NOT NULL)
       OR (t.modified_gmt IS NOT DISTINCT FROM EXCLUDED.modified_gmt
           AND (t.parent_id, t.payload, t.deleted_at) IS DISTINCT FROM
               (EXCLUDED.parent_id, EXCLUDED.payload, EXCLUDED.deleted_at))
    RETURNING xmax = 0 AS inserted
)
SELECT (SELECT count(*) FROM elems),
       (SELECT count(*) FROM fresh),
       (SELECT count(*) FROM kept),
       (SELECT count(*) FILTER (WHERE inserted) FROM merged),
       (SELECT count(*) FROM merged),
       (SELECT coalesce(jsonb_agg(e), '[]'::jsonb) FROM elems WHERE NOT ok)
"""


def array_text(records: list[Any]) -> str:
    """Records Python already holds (children, newest customers, webhook bodies) as the JSON array text that
    write_array takes."""
    return orjson.dumps(records).decode()


def _source_id(record: dict[str, Any]) -> str:
    """The id as sent, or for a record with none a digest of its content: ops.discrepancies keeps one row per
    (source id, reason), and two different id-less records must not collapse into one."""
    if record.get("id") is not None:
        return str(record["id"])
    digest = hashlib.blake2b(orjson.dumps(record, option=orjson.OPT_SORT_KEYS), digest_size=6).hexdigest()
    return f"?{digest}"


def write_array(
    conn: sa.Connection,
    shop_key: str,
    entity: str,
    body: str,
    *,
    fetched_at: datetime,
    parent_id: int | None = None,
    known_only: bool = False,
    run_id: str | None = None,
) -> ArrayWrite:
    """Merge the JSON array `body` (text) into raw.woocommerce_<entity> inside the caller's transaction.

    `fetched_at` is this machine's clock (the sync compares raw.fetched_at with its own start). `known_only`
    updates only records raw already has (a status=trash sweep). Raises InvalidJson when the text is not a
    JSON array; the transaction is then aborted and must be rolled back."""
    parameters: dict[str, Any] = {
        "body": body,
        "shop_key": shop_key,
        "fetched_at": fetched_at,
        "parent_id": parent_id,
        "parent_from_record": BY_NAME[entity].parent is not None,
        "known_only": known_only,
    }
    try:
        listed, valid, kept, inserted, returned, bad = conn.exec_driver_sql(
            _statement(f"woocommerce_{entity}"), parameters
        ).one()
    except sa.exc.DBAPIError as exc:
        if isinstance(exc.orig, pg_errors.InvalidTextRepresentation):  # "invalid input syntax for type json"
            raise InvalidJson(str(exc.orig).splitlines()[0]) from None
        raise
    for record in bad:
        record = record if isinstance(record, dict) else {"value": record}
        quarantine(conn, shop_key, entity, _source_id(record), NO_ID, record, run_id)
    written = UpsertResult(inserted=inserted, updated=returned - inserted, unchanged=kept - returned)
    return ArrayWrite(listed=listed, written=written, not_imported=valid - kept, quarantined=len(bad))
