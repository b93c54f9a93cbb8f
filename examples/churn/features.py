"""Feature definitions for the churn example: one entity, three sources, four views,
one feature service.

Source paths are relative (``data/...``) and read from the current directory, which
``run.py`` sets to this example's folder. Keeping them relative keeps the definitions'
content versions the same wherever the repository is checked out: a source's version
includes its path.

``spending`` declares window aggregations: its values are exact at each label row's own
timestamp (the 30 days up to the snapshot). ``support`` is a rolling Polars
transformation computed *as of each event*: the row at a ticket holds the 90 days up to
that ticket, a point-in-time lookup returns the latest such row before the label's
timestamp, and the TTL says how stale a window may be before it means "no recent
activity" (null) rather than an old total. :func:`spending_as_of_each_purchase` is the
old, event-time way of computing ``spending``; ``run.py`` shows once what it would give.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

import featstore as fs

__all__ = [
    "SPENDING_WINDOW",
    "churn_v1",
    "customer",
    "customers",
    "definitions",
    "last_purchase",
    "profile",
    "spending",
    "spending_as_of_each_purchase",
    "support",
    "tickets",
    "transactions",
]

# -- entity and sources -------------------------------------------------------------------

customer = fs.Entity(
    "customer",
    join_keys=["customer_id"],
    description="A shop customer, identified by customer_id.",
)

transactions = fs.ParquetSource(
    "transactions",
    path="data/transactions/*.parquet",
    timestamp_column="ts",
    created_timestamp_column="created",
    description="Purchases, one file per month. A late correction (partial refund) repeats "
    "the txn_id and ts with a new amount and a later created timestamp.",
)

tickets = fs.ParquetSource(
    "tickets",
    path="data/tickets.parquet",
    timestamp_column="ts",
    description="Support tickets with priority and hours to resolution.",
)

customers = fs.ParquetSource(
    "customers",
    path="data/customers.parquet",
    timestamp_column="signup_date",
    description="Customer profiles; the event time is the signup date.",
)


def _latest_version_of_each_txn(tx: pl.LazyFrame) -> pl.LazyFrame:
    """Keep one row per txn_id: the latest correction, if any."""
    return tx.filter(pl.col("created") == pl.col("created").max().over("txn_id"))


# -- feature views --------------------------------------------------------------------------


SPENDING_WINDOW = timedelta(days=30)

spending = fs.FeatureView(
    "spending",
    entity=customer,
    source=transactions,
    # a correction repeats its purchase's ts, so the rows it replaces are in the same run
    transform=_latest_version_of_each_txn,
    lookback=timedelta(0),
    # each txn_id belongs to one customer, so each customer's rows come from its own rows
    # alone: the Spark engine runs the transform one customer at a time (docs/spark.md)
    per_key=True,
    aggregations=[
        fs.Aggregation("amount", "sum", window=SPENDING_WINDOW, name="spend_30d"),
        fs.Aggregation("amount", "count", window=SPENDING_WINDOW, name="txn_count_30d"),
        fs.Aggregation("amount", "mean", window=SPENDING_WINDOW, name="avg_basket_30d"),
    ],
    description="Spend, purchase count and mean basket in the 30 days up to each entity "
    "row's timestamp (corrected amounts). An empty window gives a null spend and basket "
    "and a count of 0.",
)


def spending_as_of_each_purchase(tx: pl.LazyFrame) -> pl.LazyFrame:
    """The event-time way to compute ``spending``, as this example once did: a rolling
    30-day window materialized at each purchase. Read point-in-time, a label row gets the
    window that ended at the customer's last purchase before it, not at its own timestamp
    (``run.py`` compares the two once)."""
    return (
        _latest_version_of_each_txn(tx)
        .sort("customer_id", "ts")
        .rolling("ts", period=SPENDING_WINDOW, group_by="customer_id")
        .agg(pl.col("amount").sum().alias("spend_30d"))
    )


@fs.feature_view(entity=customer, source=transactions, ttl=timedelta(days=30))
def last_purchase(tx: pl.LazyFrame) -> pl.LazyFrame:
    """The customer's most recent purchase: when, amount, item count and category. A late
    correction wins over the original row (same ts, later created). Null after 30 days
    without a purchase."""
    return tx.select(
        "customer_id",
        "ts",
        "created",
        pl.col("ts").alias("last_purchase_at"),
        pl.col("amount").alias("last_amount"),
        pl.col("n_items").alias("last_n_items"),
        pl.col("category").alias("last_category"),
    )


@fs.feature_view(
    entity=customer,
    source=tickets,
    lookback=timedelta(days=90),
    ttl=timedelta(days=90),
    per_key=True,  # a rolling window per customer
)
def support(t: pl.LazyFrame) -> pl.LazyFrame:
    """Support tickets in the trailing 90 days, as of each ticket: count, high or urgent
    count, and mean hours to resolution. Null when the last ticket is over 90 days old."""
    return (
        t.sort("customer_id", "ts")
        .rolling("ts", period="90d", group_by="customer_id")
        .agg(
            pl.len().cast(pl.Int32).alias("tickets_90d"),
            pl.col("priority")
            .is_in(["high", "urgent"])
            .sum()
            .cast(pl.Int32)
            .alias("urgent_tickets_90d"),
            pl.col("resolved_hours").mean().round(1).alias("mean_resolution_hours_90d"),
        )
    )


def _signup_as_feature(c: pl.LazyFrame) -> pl.LazyFrame:
    """The signup date (the source's event time) as a feature too: tenure is computed
    from it at each entity row."""
    return c.with_columns(pl.col("signup_date").alias("signed_up_at"))


profile = fs.FeatureView(
    "profile",
    entity=customer,
    source=customers,
    transform=_signup_as_feature,
    features=["plan", "region", "signed_up_at"],
    description="The customer's plan and region, as given at signup, and the signup date.",
)

# -- what the model consumes ----------------------------------------------------------------
# The times the model's inputs need (days since the last purchase, tenure) are features:
# a view of window aggregations has no single event timestamp to retrieve beside them.

churn_v1 = fs.FeatureService(
    "churn_v1",
    features=[
        spending,
        last_purchase[["last_purchase_at", "last_amount", "last_n_items"]],
        support,
        profile[["plan", "signed_up_at"]],
    ],
    description="Inputs of the churn model, version 1.",
)

definitions = [
    customer,
    transactions,
    tickets,
    customers,
    spending,
    last_purchase,
    support,
    profile,
    churn_v1,
]
