SELECT
  e."__fs_row",
  CASE WHEN __fs_v0."__fs_v0_ts" >= e."__fs_ts" - INTERVAL (86400000000) MICROSECONDS THEN __fs_v0."__fs_v0_f0" END AS "amount",
  CASE WHEN __fs_v0."__fs_v0_ts" >= e."__fs_ts" - INTERVAL (86400000000) MICROSECONDS THEN __fs_v0."__fs_v0_f1" END AS "a__n",
  coalesce(__fs_v0."__fs_v0_ts" >= e."__fs_ts" - INTERVAL (86400000000) MICROSECONDS, false) AS "__fs_m0",
  __fs_v1."__fs_v1_f0" AS "spend",
  coalesce(__fs_v1."__fs_v1_ts" IS NOT NULL, false) AS "__fs_m1"
FROM __fs_entity AS e
ASOF LEFT JOIN (
  SELECT
    "customer_id",
    "__fs_ts" AS "__fs_v0_ts",
    "amount" AS "__fs_v0_f0",
    "n" AS "__fs_v0_f1"
  FROM (SELECT * REPLACE (make_timestamp(epoch_us("__fs_ts")) AS "__fs_ts", make_timestamp(epoch_us("__fs_created")) AS "__fs_created") FROM read_parquet(['/s/offline/a/1/2024-01/part-x.parquet']))
  WHERE "__fs_rank" = 1
    AND "__fs_ts" <= TIMESTAMP '2024-03-01 00:00:00.000000'
    AND "__fs_ts" >= TIMESTAMP '2024-01-01 00:00:00.000000' - INTERVAL (86400000000) MICROSECONDS
) AS __fs_v0
  ON e."customer_id" = __fs_v0."customer_id"
  AND e."__fs_ts" >= __fs_v0."__fs_v0_ts"
ASOF LEFT JOIN (
  SELECT
    "customer_id",
    "store",
    "__fs_ts" AS "__fs_v1_ts",
    "spend" AS "__fs_v1_f0"
  FROM (SELECT * REPLACE (make_timestamp(epoch_us("__fs_ts")) AS "__fs_ts", make_timestamp(epoch_us("__fs_created")) AS "__fs_created") FROM read_parquet(['/s/b1.parquet', '/s/b2.parquet']))
  WHERE "__fs_rank" = 1
    AND "__fs_ts" <= TIMESTAMP '2024-03-01 00:00:00.000000'
) AS __fs_v1
  ON e."customer_id" = __fs_v1."customer_id"
  AND e."store" = __fs_v1."store"
  AND e."__fs_ts" >= __fs_v1."__fs_v1_ts"
ORDER BY e."__fs_row"
