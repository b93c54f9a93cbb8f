"""Feature definitions for the churn example: one entity, three sources, four views,
one feature service.

Source paths are relative (``data/...``) and read from the current directory, which
``run.py`` sets to this example's folder. Keeping them relative keeps the definitions'
content versions the same wherever the repository is checked out: a source's version
includes its path.

Windowed views (``spending``, ``support``) are computed *as of each event*: the row at a
purchase holds the 30 days up to that purchase. A point-in-time lookup returns the latest
such row before the label's timestamp, so the TTL says how stale a window value may be
before it means "no recent activity" (null) rather than an old total.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

import featstore as fs

__all__ = [
    "churn_v1",
    "customer",
    "customers",
    "definitions",
    "last_purchase",
    "profile",
    "spending",
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


@fs.feature_view(
    entity=customer,
    source=transactions,
    lookback=timedelta(days=30),
    ttl=timedelta(days=30),
)
def spending(tx: pl.LazyFrame) -> pl.LazyFrame:
    """Trailing 30-day spend, purchase count and mean basket per customer, as of each
    purchase (corrected amounts). Null when the last purchase is over 30 days old."""
    return (
        _latest_version_of_each_txn(tx)
        .sort("customer_id", "ts")
        .rolling("ts", period="30d", group_by="customer_id")
        .agg(
            pl.col("amount").sum().round(2).alias("spend_30d"),
            pl.len().cast(pl.Int32).alias("txn_count_30d"),
            pl.col("amount").mean().round(2).alias("avg_basket_30d"),
            # a window's value is known once its latest (possibly corrected) row is
            pl.col("created").max(),
        )
    )


@fs.feature_view(entity=customer, source=transactions, ttl=timedelta(days=30))
def last_purchase(tx: pl.LazyFrame) -> pl.LazyFrame:
    """The customer's most recent purchase: amount, item count and category. A late
    correction wins over the original row (same ts, later created). Null after 30 days
    without a purchase."""
    return tx.select(
        "customer_id",
        "ts",
        "created",
        pl.col("amount").alias("last_amount"),
        pl.col("n_items").alias("last_n_items"),
        pl.col("category").alias("last_category"),
    )


@fs.feature_view(
    entity=customer,
    source=tickets,
    lookback=timedelta(days=90),
    ttl=timedelta(days=90),
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


profile = fs.FeatureView(
    "profile",
    entity=customer,
    source=customers,
    features=["plan", "region"],
    description="The customer's plan and region, as given at signup.",
)

# -- what the model consumes ----------------------------------------------------------------

churn_v1 = fs.FeatureService(
    "churn_v1",
    features=[
        spending,
        last_purchase[["last_amount", "last_n_items"]],
        support,
        profile[["plan"]],
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
