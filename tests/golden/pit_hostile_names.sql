SELECT
  e."__fs_row",
  __fs_v0."__fs_v0_f0" AS "x'y",
  coalesce(__fs_v0."__fs_v0_ts" IS NOT NULL, false) AS "__fs_m0"
FROM __fs_entity AS e
ASOF LEFT JOIN (
  SELECT
    "we""ird",
    "__fs_ts" AS "__fs_v0_ts",
    """; DROP TABLE x; --" AS "__fs_v0_f0"
  FROM (SELECT * REPLACE (make_timestamp(epoch_us("__fs_ts")) AS "__fs_ts", make_timestamp(epoch_us("__fs_created")) AS "__fs_created") FROM read_parquet(['/s/it''s.parquet']))
  WHERE "__fs_rank" = 1
) AS __fs_v0
  ON e."we""ird" = __fs_v0."we""ird"
  AND e."__fs_ts" >= __fs_v0."__fs_v0_ts"
ORDER BY e."__fs_row"
