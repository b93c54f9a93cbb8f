COPY (
  SELECT
    *,
    row_number() OVER (PARTITION BY "we""ird", "__fs_ts" ORDER BY "__fs_created" DESC NULLS LAST, """; DROP TABLE x; --" DESC NULLS LAST, "it's" DESC NULLS LAST) AS "__fs_rank"
  FROM (
    SELECT
      "we""ird",
      "__fs_ts",
      "__fs_created",
      """; DROP TABLE x; --",
      "it's"
    FROM __fs_new
    UNION ALL
    SELECT
      "we""ird",
      "__fs_ts",
      "__fs_created",
      """; DROP TABLE x; --",
      "it's"
    FROM read_parquet(['/s/it''s.parquet'])
    WHERE NOT ("__fs_ts" >= TIMESTAMP '2024-01-01T00:00:00.000000' AND "__fs_ts" < TIMESTAMP '2024-02-01T00:00:00.000000')
  )
  ORDER BY "we""ird", "__fs_ts", "__fs_rank"
) TO '/s/o''neil/2024-01.parquet' (FORMAT parquet, COMPRESSION zstd)

SELECT
  count(*),
  min("__fs_ts"),
  max("__fs_ts")
FROM read_parquet('/s/o''neil/2024-01.parquet')
