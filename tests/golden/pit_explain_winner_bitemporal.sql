SELECT
  e."__fs_row",
  __fs_v0."__fs_v0_f0" AS "v",
  coalesce(__fs_v0."__fs_v0_ts" IS NOT NULL, false) AS "__fs_m0",
  __fs_v0."__fs_v0_ts" AS "__fs_v0_ts",
  __fs_v0."__fs_v0_created" AS "__fs_v0_created",
  __fs_v0."__fs_v0_file" AS "__fs_v0_file"
FROM __fs_entity AS e
ASOF LEFT JOIN (
  SELECT
    "k",
    "k2",
    "__fs_avail" AS "__fs_v0_avail",
    "__fs_ts" AS "__fs_v0_ts",
    "v" AS "__fs_v0_f0",
    "__fs_created" AS "__fs_v0_created",
    "__fs_file" AS "__fs_v0_file"
  FROM (
    SELECT *
    FROM (
      SELECT
        *,
        max("__fs_order") OVER (PARTITION BY "k", "k2" ORDER BY "__fs_avail", "__fs_order" ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS "__fs_prev"
      FROM (
        SELECT
          *,
          greatest("__fs_ts", "__fs_created") AS "__fs_avail",
          {'ts': "__fs_ts", 'rank': -"__fs_rank"} AS "__fs_order"
        FROM (SELECT * REPLACE (make_timestamp(epoch_us("__fs_ts")) AS "__fs_ts", make_timestamp(epoch_us("__fs_created")) AS "__fs_created") FROM read_parquet(['/s/a.parquet'], filename = '__fs_file'))
        WHERE "__fs_ts" <= TIMESTAMP '2024-02-03 00:00:00.000000'
          AND "__fs_created" IS NOT NULL
          AND "__fs_created" <= TIMESTAMP '2024-02-03 00:00:00.000000'
      )
    )
    WHERE "__fs_prev" IS NULL OR "__fs_order" > "__fs_prev"
    QUALIFY row_number() OVER (PARTITION BY "k", "k2", "__fs_avail" ORDER BY "__fs_order" DESC) = 1
  )
) AS __fs_v0
  ON e."k" = __fs_v0."k"
  AND e."k2" = __fs_v0."k2"
  AND e."__fs_ts" >= __fs_v0."__fs_v0_avail"
ORDER BY e."__fs_row"
