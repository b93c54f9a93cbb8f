"""Synthetic, reproducible raw data for the churn example.

A small online shop in 2024: customers (signup date, plan, region), their purchases,
their support tickets, and monthly churn labels. Everything comes from one seeded NumPy
generator, so the same seed gives the same rows on every machine.

How churn is simulated, so that a model has something to learn:

- every customer has a hidden *dissatisfaction* score; it raises the daily churn hazard
  and the rate of support tickets;
- the hazard also depends on the plan (basic customers leave more often than premium);
- in the ~75 days before a customer churns, purchases fade out and tickets pick up.

Files written under the data directory (all timestamps are naive UTC)::

    customers.parquet               customer_id, signup_date, plan, region
    transactions/2024-01.parquet    txn_id, customer_id, ts, created, amount, n_items, category
    ...                             (one file per month of ``ts``)
    tickets.parquet                 ticket_id, customer_id, ts, priority, resolved_hours
    labels.parquet                  customer_id, event_timestamp, churned

About 1% of purchases get a late *correction* (a partial refund): a second row with the
same ``txn_id`` and ``ts``, a lower amount, and a ``created`` timestamp days later.

:func:`outcomes` gives the labels of a later snapshot (by default the year end, the day
``run.py`` scores) from the same seed, without writing anything.

Run ``python examples/churn/data.py [--out DIR]`` to (re)generate the files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

__all__ = [
    "DATA_DIR",
    "SEED",
    "SIGNUPS_FROM",
    "SNAPSHOTS",
    "YEAR_END",
    "YEAR_START",
    "ensure_data",
    "generate",
    "outcomes",
]

SEED = 2024
N_CUSTOMERS = 5_000
DATA_DIR = Path(__file__).resolve().parent / "data"

YEAR_START = datetime(2024, 1, 1)
YEAR_END = datetime(2025, 1, 1)
SIGNUPS_FROM = datetime(2022, 1, 1)
SIGNUPS_TO = datetime(2024, 10, 1)
# monthly label snapshots: "does this customer churn in the 30 days after the 1st?"
SNAPSHOTS = [datetime(2024, month, 1) for month in range(3, 13)]
CHURN_HORIZON_DAYS = 30

PLANS = ["basic", "standard", "premium"]
PLAN_SHARE = [0.5, 0.35, 0.15]
PLAN_CHURN_PER_DAY = np.array([0.0013, 0.0008, 0.0004])  # at average dissatisfaction
PLAN_TXN_PER_DAY = np.array([0.21, 0.28, 0.40])
PLAN_MEAN_AMOUNT = np.array([28.0, 42.0, 70.0])
REGIONS = ["north", "south", "east", "west"]
CATEGORIES = ["grocery", "home", "fashion", "electronics", "travel"]
CATEGORY_SHARE = [0.42, 0.22, 0.18, 0.12, 0.06]
CATEGORY_PRICE = np.array([0.6, 1.0, 1.2, 2.5, 4.0])
PRIORITIES = ["low", "medium", "high", "urgent"]

TICKETS_PER_DAY = 0.0115
FADE_DAYS = 75.0  # purchases fade out / tickets pick up this long before churn
CORRECTION_SHARE = 0.01

_EPOCH = np.datetime64("1970-01-01T00:00:00", "us")


def _days(ts: datetime) -> float:
    """Days since the Unix epoch (the simulation's clock)."""
    return (np.datetime64(ts, "us") - _EPOCH) / np.timedelta64(1, "D")


def _to_us(days: np.ndarray) -> np.ndarray:
    """Simulation days -> datetime64[us], truncated to whole seconds."""
    seconds = np.floor(days * 86_400).astype(np.int64)
    return _EPOCH + seconds.astype("timedelta64[s]").astype("timedelta64[us]")


def _fade(days_to_churn: np.ndarray) -> np.ndarray:
    """Activity level before churn: 1 until FADE_DAYS before, then linearly to 0.15."""
    return np.clip(0.15 + 0.85 * days_to_churn / FADE_DAYS, 0.15, 1.0)


def _customers(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = N_CUSTOMERS
    lo, hi = _days(SIGNUPS_FROM), _days(SIGNUPS_TO)
    signup = np.floor(rng.uniform(lo, hi, n))  # midnight of the signup day
    plan = rng.choice(len(PLANS), size=n, p=PLAN_SHARE)
    region = rng.integers(0, len(REGIONS), n)
    dissatisfaction = rng.normal(0.0, 1.0, n)
    # churn: exponential waiting time from the start of activity in 2024
    start = np.maximum(signup, _days(YEAR_START))
    hazard = PLAN_CHURN_PER_DAY[plan] * np.exp(0.8 * dissatisfaction)
    churn = start + rng.exponential(1.0 / hazard)
    end = np.minimum(churn, _days(YEAR_END))
    txn_rate = (
        PLAN_TXN_PER_DAY[plan] * rng.lognormal(-0.1, 0.45, n) * np.exp(-0.1 * dissatisfaction)
    )
    mean_amount = PLAN_MEAN_AMOUNT[plan] * rng.lognormal(0.0, 0.35, n)
    return {
        "customer_id": np.arange(1, n + 1, dtype=np.int64),
        "signup": signup,
        "plan": plan,
        "region": region,
        "dissatisfaction": dissatisfaction,
        "start": start,
        "churn": churn,
        "end": end,
        "txn_rate": txn_rate,
        "mean_amount": mean_amount,
    }


def _thinned_events(
    rng: np.random.Generator, c: dict[str, np.ndarray], rate: np.ndarray, boost_before_churn: float
) -> tuple[np.ndarray, np.ndarray]:
    """Event times per customer on [start, end): a Poisson process whose rate fades
    (``boost_before_churn == 0``) or rises (``> 0``) before churn, by thinning."""
    span = np.maximum(c["end"] - c["start"], 0.0)
    peak = rate * (1.0 + boost_before_churn)
    counts = rng.poisson(peak * span)
    who = np.repeat(np.arange(N_CUSTOMERS), counts)
    t = c["start"][who] + rng.uniform(0.0, 1.0, who.size) * span[who]
    level = _fade(c["churn"][who] - t)
    if boost_before_churn:
        level = 1.0 + boost_before_churn * (1.0 - level) / 0.85  # 1 -> 1 + boost at churn
    keep = rng.uniform(0.0, 1.0, who.size) * (1.0 + boost_before_churn) < level
    order = np.lexsort((t[keep], who[keep]))
    return who[keep][order], t[keep][order]


def _transactions(rng: np.random.Generator, c: dict[str, np.ndarray]) -> pl.DataFrame:
    who, t = _thinned_events(rng, c, c["txn_rate"], 0.0)
    n = who.size
    # December is busier: drop ~a fifth of the other months' events instead of adding some
    month = (t - _days(YEAR_START)) // 30.5
    keep = (month >= 11) | (rng.uniform(0.0, 1.0, n) < 0.82)
    who, t = who[keep], t[keep]
    n = who.size
    category = rng.choice(len(CATEGORIES), size=n, p=CATEGORY_SHARE)
    amount = c["mean_amount"][who] * CATEGORY_PRICE[category] * rng.lognormal(-0.12, 0.5, n)
    amount = np.round(np.maximum(amount, 0.99), 2)
    n_items = 1 + rng.poisson(np.clip(amount / 25.0, 0.2, 6.0))
    delay = rng.exponential(4.0 / 1440.0, n) + 5.0 / 86_400  # minutes after the purchase
    ts = _to_us(t)
    created = _to_us(t + delay)
    txn_id = np.arange(1, n + 1, dtype=np.int64)

    fix = np.flatnonzero(rng.uniform(0.0, 1.0, n) < CORRECTION_SHARE)
    fix_created = _to_us(t[fix] + rng.uniform(1.0, 10.0, fix.size))
    fix_amount = np.round(amount[fix] * rng.uniform(0.4, 0.95, fix.size), 2)

    frame = pl.DataFrame(
        {
            "txn_id": np.concatenate([txn_id, txn_id[fix]]),
            "customer_id": c["customer_id"][np.concatenate([who, who[fix]])],
            "ts": np.concatenate([ts, ts[fix]]),
            "created": np.concatenate([created, fix_created]),
            "amount": np.concatenate([amount, fix_amount]),
            "n_items": np.concatenate([n_items, n_items[fix]]).astype(np.int32),
            "category": np.array(CATEGORIES)[np.concatenate([category, category[fix]])],
        }
    )
    return frame.sort("ts", "txn_id", "created")


def _tickets(rng: np.random.Generator, c: dict[str, np.ndarray]) -> pl.DataFrame:
    rate = TICKETS_PER_DAY * np.exp(0.6 * c["dissatisfaction"])
    who, t = _thinned_events(rng, c, rate, 3.0)
    n = who.size
    unhappy = c["dissatisfaction"][who]
    p_high = 1.0 / (1.0 + np.exp(-(unhappy - 1.0)))  # unhappy customers escalate
    priority = np.where(
        rng.uniform(0.0, 1.0, n) < p_high,
        rng.choice([2, 3], size=n, p=[0.7, 0.3]),
        rng.choice([0, 1], size=n, p=[0.55, 0.45]),
    )
    resolved = np.round(rng.lognormal(2.2 + 0.25 * unhappy + 0.2 * (priority == 0), 0.8), 1)
    return pl.DataFrame(
        {
            "ticket_id": np.arange(1, n + 1, dtype=np.int64),
            "customer_id": c["customer_id"][who],
            "ts": _to_us(t),
            "priority": np.array(PRIORITIES)[priority],
            "resolved_hours": resolved,
        }
    )


def _snapshot_labels(c: dict[str, np.ndarray], snap: datetime) -> pl.DataFrame:
    """The customers at ``snap`` (signed up before it, not yet gone) and whether they
    churn in the CHURN_HORIZON_DAYS after it."""
    s = _days(snap)
    active = (c["signup"] < s) & (c["churn"] >= s)
    churned = c["churn"][active] < s + CHURN_HORIZON_DAYS
    return pl.DataFrame(
        {
            "customer_id": c["customer_id"][active],
            "event_timestamp": np.full(active.sum(), np.datetime64(snap, "us")),
            "churned": churned.astype(np.int8),
        }
    )


def _labels(c: dict[str, np.ndarray]) -> pl.DataFrame:
    return pl.concat([_snapshot_labels(c, snap) for snap in SNAPSHOTS])


def outcomes(as_of: datetime = YEAR_END, *, seed: int = SEED) -> pl.DataFrame:
    """Churn labels of one more snapshot, by the rule of ``labels.parquet``: the customers
    at ``as_of`` and whether they churn in the 30 days after it (``customer_id``,
    ``event_timestamp``, ``churned``). The default, the year end, is the ground truth of
    the batch ``run.py`` scores, known a month later.

    Nothing is read or written: every customer's churn time is drawn first, before any
    purchase or ticket, and runs past the year end where the raw files stop, so the
    seeded generator gives it again without the rest of the data.
    """
    return _snapshot_labels(_customers(np.random.default_rng(seed)), as_of)


def generate(out: str | os.PathLike[str] = DATA_DIR, *, seed: int = SEED) -> dict[str, int]:
    """Write the data set under ``out`` (replacing it) and return row counts.

    The files are written into a sibling temporary directory first and renamed into
    place, so ``out`` is either complete or absent.
    """
    out = Path(out)
    rng = np.random.default_rng(seed)
    c = _customers(rng)
    customers = pl.DataFrame(
        {
            "customer_id": c["customer_id"],
            "signup_date": _to_us(c["signup"]),
            "plan": np.array(PLANS)[c["plan"]],
            "region": np.array(REGIONS)[c["region"]],
        }
    )
    transactions = _transactions(rng, c)
    tickets = _tickets(rng, c)
    labels = _labels(c)

    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "transactions").mkdir(parents=True)
    customers.write_parquet(tmp / "customers.parquet")
    by_month = transactions.with_columns(pl.col("ts").dt.strftime("%Y-%m").alias("_month"))
    months = by_month.partition_by("_month", as_dict=True, maintain_order=True)
    for (month,), part in months.items():
        part.drop("_month").write_parquet(tmp / "transactions" / f"{month}.parquet")
    tickets.write_parquet(tmp / "tickets.parquet")
    labels.write_parquet(tmp / "labels.parquet")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return {
        "customers": customers.height,
        "transactions": transactions.height,
        "transaction_files": by_month["_month"].n_unique(),
        "corrections": transactions.height - transactions["txn_id"].n_unique(),
        "tickets": tickets.height,
        "labels": labels.height,
        "churned": int(labels["churned"].sum()),
    }


def ensure_data(out: str | os.PathLike[str] = DATA_DIR) -> dict[str, int] | None:
    """Generate the data set unless ``out`` already holds it; counts if generated."""
    if (Path(out) / "labels.parquet").exists():
        return None
    return generate(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"default: {DATA_DIR}")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    counts = generate(args.out, seed=args.seed)
    for name, count in counts.items():
        print(f"{name:<18} {count:>9,}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
