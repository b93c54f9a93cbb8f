SELECT
  e."__fs_row",
  CASE WHEN __fs_v0."__fs_v0_ts" >= e."__fs_ts" - INTERVAL (86400000000) MICROSECONDS THEN __fs_v0."__fs_v0_f0" END AS "amount",
  coalesce(__fs_v0."__fs_v0_ts" >= e."__fs_ts" - INTERVAL (86400000000) MICROSECONDS, false) AS "__fs_m0",
  CASE WHEN __fs_v0."__fs_v0_ts" >= e."__fs_ts" - INTERVAL (86400000000) MICROSECONDS THEN __fs_v0."__fs_v0_ts" END AS "__fs_v0_ts",
  CASE WHEN __fs_v0."__fs_v0_ts" >= e."__fs_ts" - INTERVAL (86400000000) MICROSECONDS THEN __fs_v0."__fs_v0_created" END AS "__fs_v0_created",
  CASE WHEN __fs_v0."__fs_v0_ts" >= e."__fs_ts" - INTERVAL (86400000000) MICROSECONDS THEN __fs_v0."__fs_v0_file" END AS "__fs_v0_file"
FROM __fs_entity AS e
ASOF LEFT JOIN (
  SELECT
    "customer_id",
    "__fs_ts" AS "__fs_v0_ts",
    "amount" AS "__fs_v0_f0",
    "__fs_created" AS "__fs_v0_created",
    "__fs_file" AS "__fs_v0_file"
  FROM (SELECT * REPLACE (make_timestamp(epoch_us("__fs_ts")) AS "__fs_ts", make_timestamp(epoch_us("__fs_created")) AS "__fs_created") FROM read_parquet(['/s/offline/a/1/2024-01/part-x.parquet', '/s/offline/a/1/2024-02/part-y.parquet'], filename = '__fs_file'))
  WHERE "__fs_rank" = 1
    AND "__fs_ts" <= TIMESTAMP '2024-02-03 04:05:06.000000'
    AND "__fs_ts" >= TIMESTAMP '2024-02-03 04:05:06.000000' - INTERVAL (86400000000) MICROSECONDS
) AS __fs_v0
  ON e."customer_id" = __fs_v0."customer_id"
  AND e."__fs_ts" >= __fs_v0."__fs_v0_ts"
ORDER BY e."__fs_row"
