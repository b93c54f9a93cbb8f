SELECT
  e."__fs_row",
  NULL AS "v",
  false AS "__fs_m0"
FROM __fs_entity AS e
ORDER BY e."__fs_row"
