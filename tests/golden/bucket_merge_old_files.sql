COPY (
  SELECT
    *,
    row_number() OVER (PARTITION BY "customer_id", "store", "__fs_ts" ORDER BY "__fs_created" DESC NULLS LAST, "x" DESC NULLS LAST) AS "__fs_rank"
  FROM (
    SELECT
      "customer_id",
      "store",
      "__fs_ts",
      "__fs_created",
      "x"
    FROM __fs_new
    UNION ALL
    SELECT
      "customer_id",
      "store",
      "__fs_ts",
      "__fs_created",
      "x"
    FROM read_parquet(['/s/offline/v/1/2024-01/part-a.parquet', '/s/offline/v/1/2024-01/b[[]1].parquet'])
    WHERE NOT ("__fs_ts" >= TIMESTAMP '2024-01-10T00:00:00.000000' AND "__fs_ts" < TIMESTAMP '2024-01-20T12:00:00.000000')
  )
  ORDER BY "customer_id", "store", "__fs_ts", "__fs_rank"
) TO '/s/staging/run2/2024-01.parquet' (FORMAT parquet, COMPRESSION zstd)

SELECT
  count(*),
  min("__fs_ts"),
  max("__fs_ts")
FROM read_parquet('/s/staging/run2/2024-01.parquet')
