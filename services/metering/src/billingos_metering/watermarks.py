"""The safe point both event stores count up to: every event stored below it
is visible for good, and none will ever be stored below it.

An event's watermark is the id of the transaction that stored it. Below the
snapshot's `xmax` every transaction has ended or is still running; of those
still running, only metering's own can store events. So the safe point is
`xmax`, or the oldest transaction id metering's own connections hold, if
lower. Not `pg_snapshot_xmin`: that is the oldest running transaction of the
whole cluster, and any long one (another service waiting on Stripe inside a
transaction, a migration, a bulk load) would hold every balance back while
it runs.

The transactions that can store events are those of metering's main
connections (ingest, the customers copy's claims), named by their
`application_name` (billingos_kit.db: `billingos-metering`). The balance
worker's and the rollup keeper's connections only read events, and are
named apart (COUNTING_APPLICATION): their long transactions (a recount, a
rebuild) do not hold the safe point back. `xmax` is
read first: a transaction that takes an id after it takes one at or above
it; one that held an id below it is either seen still running by the second
read, or has ended by then."""

from __future__ import annotations

from billingos_kit.db import Connection

_HORIZON = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
WRITER_APPLICATION = "billingos-metering"
COUNTING_APPLICATION = "billingos-metering-counting"
# `backend_xid` is a 32-bit xid, the watermarks are 64-bit (epoch and xid):
# a running transaction's 32-bit id is widened with the epoch of the next id
# to be assigned, one epoch less if it is above that id's low half (it was
# assigned before the counter wrapped). Running ids are always within 2^31
# below the next one, so this is exact. (Compared raw, a cluster past its
# first 2^32 transactions put the safe point below every event: balances
# stopped.)
WIDEN_XID = (
    "((n.next / 4294967296) - CASE WHEN a.xid > n.next % 4294967296 THEN 1 ELSE 0 END)"
    " * 4294967296 + a.xid"
)
_OLDEST_OWN = f"""
SELECT min({WIDEN_XID})
FROM (SELECT backend_xid::text::bigint AS xid FROM pg_stat_activity
      WHERE backend_xid IS NOT NULL AND application_name = $1) a,
     (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next) n
"""  # noqa: S608 - no input in the text


async def safe_watermark(connection: Connection) -> int:
    horizon = int(await connection.fetchval(_HORIZON))
    # Backend states are cached per transaction once read: read them afresh.
    await connection.execute("SELECT pg_stat_clear_snapshot()")
    oldest = await connection.fetchval(_OLDEST_OWN, WRITER_APPLICATION)
    return horizon if oldest is None else min(horizon, int(oldest))
