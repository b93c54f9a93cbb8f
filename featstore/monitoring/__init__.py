"""Monitoring and evaluation: feature statistics, drift, training/serving skew, labels,
model performance over time, and repeatable evaluation, recorded in the catalog and the
lineage graph."""
