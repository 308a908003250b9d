"""What a mart is, as data: its table, the dirty keys that select its rows, and the SQL that rebuilds them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mart:
    """One mart table, refreshed for the keys a sync touched.

    A refresh deletes the mart's rows whose key is in the dirty set (`in_scope`, a condition on alias t)
    and inserts them again from the facts (`insert`). In a full rebuild the dirty sets hold every key,
    so the same SQL serves both and gives identical rows. `before` runs ahead of the delete (to note
    keys that are about to move), `after` behind the insert. Every statement gets :shop and :tz, and may
    join the changed orders with the facts' `/*changed alias*/` marker (dropped in a rebuild: see facts.scoped).
    """

    name: str
    table: str
    description: str
    in_scope: str
    insert: str
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    # When set, an incremental refresh runs these instead of delete + insert: for a mart whose dirty keys
    # cover most of it after scattered changes, applying the changed rows' differences is cheaper.
    incremental: tuple[str, ...] | None = None

    @property
    def delete(self) -> str:
        return f"DELETE FROM marts.{self.table} t WHERE t.shop_key = :shop AND {self.in_scope}"
