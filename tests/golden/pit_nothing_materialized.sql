SELECT e."__fs_row", NULL AS "v" FROM __fs_entity AS e  ORDER BY e."__fs_row"
