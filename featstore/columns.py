"""Every internal column name featstore makes up, in one place.

They all start with ``__fs_`` (:data:`featstore.names.RESERVED_PREFIX`). Users' join
keys and feature names may not (Entity and FeatureView refuse it, in any case), so no
internal name can collide with a user's column, whatever the user names things.
"""

from __future__ import annotations

__all__ = ["CREATED", "ENTITY", "FILE", "INTERNAL", "RANK", "ROW", "TS"]

# the prefix of every name below and of every alias the SQL builders generate
INTERNAL = "__fs_"

# stored in the offline files beside the features
TS = "__fs_ts"  # event time
CREATED = "__fs_created"  # when the value became known (bitemporal reads)
RANK = "__fs_rank"  # the deterministic tie rule among rows with one key and time

# used while a query runs
ENTITY = "__fs_entity"  # the entity frame, as registered with the engine
ROW = "__fs_row"  # an entity row's position, which keeps the result in its order
FILE = "__fs_file"  # the offline file a winning row came from (explain)
