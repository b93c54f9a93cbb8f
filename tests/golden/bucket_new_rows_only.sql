COPY (
  SELECT
    *,
    row_number() OVER (PARTITION BY "customer_id", "__fs_ts" ORDER BY "__fs_created" DESC NULLS LAST, "amount" DESC NULLS LAST, "spend" DESC NULLS LAST) AS "__fs_rank"
  FROM (
    SELECT
      "customer_id",
      "__fs_ts",
      "__fs_created",
      "spend",
      "amount"
    FROM __fs_new
  )
  ORDER BY "customer_id", "__fs_ts", "__fs_rank"
) TO '/s/staging/run1/2024-01.parquet' (FORMAT parquet, COMPRESSION zstd)

SELECT
  count(*),
  min("__fs_ts"),
  max("__fs_ts")
FROM read_parquet('/s/staging/run1/2024-01.parquet')
