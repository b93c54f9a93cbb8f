"""Which transformations look at other rows: a conservative reading of a Polars plan.

Materialization evaluates a view's transformation over pieces of a range, each over the
source rows in ``[piece_start - lookback, piece_end)``. A transformation whose output row depends only on
its own input row (projections of row-wise expressions, row-wise filters, casts, renames,
explodes, sorts) gives the same rows however a range is split into runs; one that looks at
other rows (rolling windows, group_by, ``over()``, shift, cumulative functions, joins,
full-column aggregates, head/tail, ...) does not, unless it declares a lookback.

:func:`row_context` reads the logical plan of the transformation applied to an empty frame
(``LazyFrame.serialize(format="json")``, the DSL plan as JSON) and names every construct
that may make an output row depend on other rows. It errs on the side of reporting: an
unknown plan node, expression or function, an opaque Python callback or a plan that cannot
be serialized is reported, never passed.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from collections.abc import Iterator
from typing import Any

import polars as pl

__all__ = ["PLAN_NOT_INSPECTED", "row_context"]

PLAN_NOT_INSPECTED = "plan could not be inspected"

# Reason strings shared by several plan shapes.
_OPAQUE_UDF = "map_batches (opaque)"
_OVER = "over() window"
_ROLLING = "rolling"
_AGG = "full-column aggregate {}"

# -- plan nodes ------------------------------------------------------------------------------

_LEAVES = frozenset({"DataFrameScan", "Scan", "PythonScan"})
# Every DslPlan variant the walker knows (anything else is reported as unknown).
_PLAN_KINDS = frozenset(
    {
        *_LEAVES,
        "IR",
        "Cache",
        "Filter",
        "Select",
        "HStack",
        "GroupBy",
        "Join",
        "Distinct",
        "Sort",
        "Slice",
        "MapFunction",
        "Union",
        "HConcat",
        "MergeSorted",
        "ExtContext",
        "MatchToSchema",
        "PipeWithSchema",
        "Pivot",
        "SQL",
        "Sink",
        "SinkMultiple",
    }
)
# MapFunction variants that keep each output row a function of one input row.
_ROW_LOCAL_MAP_FUNCTIONS = frozenset(
    {"Rename", "Explode", "Unnest", "Unpivot", "Rechunk", "Hint", "Drop", "Select"}
)

# -- expressions -----------------------------------------------------------------------------

_EXPR_KINDS = frozenset(
    {
        "Column",
        "Columns",
        "Selector",
        "Nth",
        "Wildcard",
        "Exclude",
        "Field",
        "DataTypeFunction",
        "Literal",
        "Alias",
        "KeepName",
        "RenameAlias",
        "Cast",
        "BinaryExpr",
        "Ternary",
        "Function",
        "AnonymousFunction",
        "Agg",
        "Explode",
        "Filter",
        "Slice",
        "Sort",
        "SortBy",
        "Gather",
        "Over",
        "Window",
        "Rolling",
        "Eval",
        "StructEval",
        "SubPlan",
    }
)
# Expression leaves that read the frame's rows (as opposed to literals).
_ROW_READERS = frozenset({"Column", "Columns", "Selector", "Nth", "Wildcard", "Exclude", "Field"})
_ROW_READER_STRINGS = frozenset({"Len", "Element", "Wildcard"})
# ``Eval`` variants that evaluate per list/array element of one row.
_PER_ROW_EVAL = frozenset({"List", "ListAgg", "Array", "ArrayAgg"})

# Functions whose output row is a function of the same input row only. Namespaces
# (str, dt, list, arr, struct, cat, bin) are per row except the few listed below.
_ROW_LOCAL_FUNCTIONS = frozenset(
    {
        "Abs",
        "Negate",
        "Sign",
        "Ceil",
        "Floor",
        "Round",
        "RoundSF",
        "Truncate",
        "Clip",
        "Exp",
        "Log",
        "Log1p",
        "Erf",
        "Erfc",
        "Pow",
        "Trigonometry",
        "Atan2",
        "Hash",
        "FillNull",
        "Coalesce",
        "AsStruct",
        "Replace",
        "ReplaceStrict",
        "Cut",
        "ToPhysical",
        "SetSortedFlag",
        "MaxHorizontal",
        "MinHorizontal",
        "SumHorizontal",
        "MeanHorizontal",
        "RepeatBy",
        "Reinterpret",
        "UpperBound",
        "LowerBound",
        "Rechunk",
        "Business",
        "ListExpr",
        "ArrayExpr",
        "StructExpr",
        "Categorical",
        "BinaryExpr",
        "StringExpr",
        "TemporalExpr",
    }
)
# Functions whose value at a row depends on the order or values of other rows.
_ORDER_FUNCTIONS: dict[str, str] = {
    "Shift": "shift",
    "ShiftAndFill": "shift",
    "Diff": "diff",
    "PctChange": "pct_change",
    "CumSum": "cum_sum",
    "CumProd": "cum_prod",
    "CumMin": "cum_min",
    "CumMax": "cum_max",
    "CumCount": "cum_count",
    "Rank": "rank",
    "EwmMean": "ewm_mean",
    "EwmStd": "ewm_std",
    "EwmVar": "ewm_var",
    "EwmSum": "ewm_sum",
    "EwmMeanBy": "ewm_mean_by",
    "Interpolate": "interpolate",
    "InterpolateBy": "interpolate_by",
    "ForwardFill": "forward_fill",
    "BackwardFill": "backward_fill",
    "Reverse": "reverse",
    "Unique": "unique",
    "ValueCounts": "value_counts",
    "UniqueCounts": "unique_counts",
    "ArgUnique": "arg_unique",
    "TopK": "top_k/bottom_k",
    "TopKBy": "top_k_by/bottom_k_by",
    "RLE": "rle",
    "RLEID": "rle_id",
    "PeakMin": "peak_min",
    "PeakMax": "peak_max",
    "GatherEvery": "gather_every",
    "ExtendConstant": "extend_constant",
    "Append": "append",
    "Reshape": "reshape",
    "Random": "sample/shuffle",
    "SearchSorted": "search_sorted",
    "QCut": "qcut",
    "ArgSort": "arg_sort",
    "ArgWhere": "arg_true/arg_where",
    "DropNulls": "drop_nulls",
    "DropNans": "drop_nans",
    "Repeat": "repeat",
    "ShrinkType": "shrink_dtype",
    "ConcatExpr": "concat expression",
    "FoldHorizontal": "fold/reduce (opaque callback)",
    "ReduceHorizontal": "fold/reduce (opaque callback)",
    "CumFoldHorizontal": "cum_fold/cum_reduce (opaque callback)",
    "CumReduceHorizontal": "cum_fold/cum_reduce (opaque callback)",
    "FfiPlugin": "plugin function (opaque)",
}
# Functions that reduce a whole column (or group) to a value.
_AGG_FUNCTIONS: dict[str, str] = {
    "Product": "product",
    "Quantile": "quantile",
    "ApproxQuantile": "approx_quantile",
    "NullCount": "null_count",
    "ApproxNUnique": "approx_n_unique",
    "Mode": "mode",
    "Skew": "skew",
    "Kurtosis": "kurtosis",
    "Entropy": "entropy",
    "Hist": "hist",
    "Correlation": "corr/cov",
    "ArgMax": "arg_max",
    "ArgMin": "arg_min",
    "MaxBy": "max_by",
    "MinBy": "min_by",
    "IndexOf": "index_of",
}
_BOOLEAN_ROW_LOCAL = frozenset(
    {
        "IsNull",
        "IsNotNull",
        "IsFinite",
        "IsInfinite",
        "IsNan",
        "IsNotNan",
        "Not",
        "IsIn",
        "IsBetween",
        "IsClose",
        "AllHorizontal",
        "AnyHorizontal",
    }
)
_BOOLEAN_AGG = {
    "All": "all",
    "Any": "any",
    "IsSorted": "is_sorted",
    "HasNulls": "has_nulls",
    "IsEmpty": "is_empty",
}
_BOOLEAN_ORDER = {
    "IsDuplicated": "is_duplicated",
    "IsUnique": "is_unique",
    "IsFirstDistinct": "is_first_distinct",
    "IsLastDistinct": "is_last_distinct",
}
_BITWISE_AGG = {"And": "bitwise_and", "Or": "bitwise_or", "Xor": "bitwise_xor"}
_FILL_STRATEGY_ORDER = {"Forward": "forward_fill", "Backward": "backward_fill"}
_FILL_STRATEGY_ROW_LOCAL = frozenset({"Zero", "One"})
# Functions whose non-first inputs are a set of values, not a column aligned by row.
_SET_ARGUMENT_FUNCTIONS = frozenset({"IsIn", "Replace", "ReplaceStrict"})
_AGG_NAMES = {"NUnique": "n_unique", "AggGroups": "agg_groups"}


def row_context(transform_output: pl.LazyFrame) -> list[str]:
    """Why an output row of ``transform_output`` may depend on input rows other than its own.

    ``transform_output`` is a view's transformation applied to an empty LazyFrame of the
    source's columns. Returns a sorted list of distinct, human-readable reasons
    (``"rolling"``, ``"group_by"``, ``"over() window"``, ``"shift"``, ``"cum_sum"``,
    ``"join"``, ``"full-column aggregate sum"``, ...), or ``[]`` when every output row
    depends only on its own input row. Conservative: what it cannot read (an unknown plan
    node or function, an opaque Python callback) is a reason, and a plan that cannot be
    serialized gives ``["plan could not be inspected"]``. Never raises.
    """
    try:
        if not isinstance(transform_output, pl.LazyFrame):
            return [PLAN_NOT_INSPECTED]
        plan = _serialized_plan(transform_output)
    except Exception:  # any failure to read the plan is reported, not raised
        return [PLAN_NOT_INSPECTED]
    walker = _Walker()
    try:
        walker.run(plan)
    except Exception:  # a plan shape the walker trips on: reported, not raised
        walker.reasons.add(PLAN_NOT_INSPECTED)
    return sorted(walker.reasons)


def _serialized_plan(lf: pl.LazyFrame) -> Any:
    with warnings.catch_warnings():
        # Polars warns that the JSON format is unstable/deprecated; it is read, not stored.
        warnings.simplefilter("ignore")
        text = lf.serialize(format="json")
    if isinstance(text, bytes):
        text = text.decode()
    return json.loads(text)


def _variant(value: Any) -> tuple[str | None, Any]:
    """``("Name", payload)`` of a serde enum value: ``"Name"`` or ``{"Name": payload}``."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, dict) and len(value) == 1:
        ((name, payload),) = value.items()
        return str(name), payload
    return None, value


def _snake(name: str) -> str:
    if name in _AGG_NAMES:
        return _AGG_NAMES[name]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _iter_json(value: Any) -> Iterator[Any]:
    """Every dict, list and scalar inside ``value`` (iteratively: plans can be deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list) and not _is_bytes(item):
            stack.extend(item)


def _is_bytes(value: list[Any]) -> bool:
    """Serialized binary blobs (DataFrames, pickled callbacks) are long lists of ints."""
    return len(value) > 8 and all(isinstance(i, int) for i in value[:16])


def _reads_rows(expr: Any) -> bool:
    """Whether an expression reads the frame (a column, a selector, ``pl.len()``...), as
    opposed to being built from literals only. Errs towards True."""
    for item in _iter_json(expr):
        if isinstance(item, str) and item in _ROW_READER_STRINGS:
            return True
        if isinstance(item, dict) and (
            _ROW_READERS.intersection(item) or "AnonymousFunction" in item or "SubPlan" in item
        ):
            return True
    return False


def _series_literal_height(payload: Any) -> int | None:
    try:
        return pl.read_ipc_stream(io.BytesIO(bytes(payload))).height
    except Exception:  # unknown encoding: treat as a multi-row column
        return None


def _leaves(plan: Any) -> set[str]:
    """Canonical text of the scan leaves of a plan (which data it reads)."""
    out = set()
    for item in _iter_json(plan):
        if isinstance(item, dict) and len(item) == 1:
            kind = next(iter(item))
            if kind in _LEAVES:
                out.add(json.dumps(item, sort_keys=True))
    return out


def _list_columns(plan: Any) -> set[str]:
    """Names of the in-memory sources' List and Array columns."""
    out: set[str] = set()
    for item in _iter_json(plan):
        if isinstance(item, dict) and isinstance(item.get("DataFrameScan"), dict):
            fields = (item["DataFrameScan"].get("schema") or {}).get("fields") or {}
            if isinstance(fields, dict):
                for column, dtype in fields.items():
                    if _variant(dtype)[0] in ("List", "Array"):
                        out.add(column)
    return out


class _Walker:
    """Walks a serialized DslPlan with an explicit stack, collecting reasons."""

    def __init__(self) -> None:
        self.reasons: set[str] = set()
        self._list_columns: set[str] = set()  # source columns of List/Array dtype
        # (kind, node, in_group, positional): kind is "plan", "expr" or "any".
        self._stack: list[tuple[str, Any, bool, bool]] = []

    def run(self, plan: Any) -> None:
        self._list_columns = _list_columns(plan)
        self._stack.append(("plan", plan, False, True))
        while self._stack:
            kind, node, in_group, positional = self._stack.pop()
            if kind == "plan":
                self._plan(node)
            elif kind == "expr":
                self._expr(node, in_group, positional)
            else:
                self._any(node, in_group)

    # -- scheduling --------------------------------------------------------------------------

    def _push_plan(self, node: Any) -> None:
        if isinstance(node, list):  # e.g. PipeWithSchema's inputs
            for item in node:
                self._push_plan(item)
        elif node is not None:
            self._stack.append(("plan", node, False, True))

    def _push_expr(self, node: Any, in_group: bool = False, positional: bool = True) -> None:
        if node is not None:
            self._stack.append(("expr", node, in_group, positional))

    def _push_exprs(self, nodes: Any, in_group: bool = False, positional: bool = True) -> None:
        if isinstance(nodes, list):
            for node in nodes:
                self._push_expr(node, in_group, positional)
        else:
            self._push_any(nodes, in_group)

    def _push_any(self, node: Any, in_group: bool = False) -> None:
        if isinstance(node, dict | list):
            self._stack.append(("any", node, in_group, True))

    def _push_rest(self, body: Any, handled: set[str], in_group: bool = False) -> None:
        """Fields a node handler did not name: searched for nested plans and expressions
        so that a field added by a newer Polars is not silently skipped."""
        if isinstance(body, dict):
            for key, value in body.items():
                if key not in handled:
                    self._push_any(value, in_group)

    def _any(self, node: Any, in_group: bool) -> None:
        """A value of unknown shape: dispatch the plans and expressions found inside."""
        if isinstance(node, list):
            if not _is_bytes(node):
                for item in node:
                    self._push_any(item, in_group)
            return
        if not isinstance(node, dict):
            return
        if len(node) == 1:
            ((name, payload),) = node.items()
            plan_markers = {"predicate", "by_column", "len", "input_left", "inputs", "df"}
            is_plan = isinstance(payload, dict) and bool(plan_markers.intersection(payload))
            if name in _PLAN_KINDS and (is_plan or name not in _EXPR_KINDS):
                self._push_plan(node)
                return
            if name in _EXPR_KINDS:
                self._push_expr(node, in_group)
                return
        for value in node.values():
            self._push_any(value, in_group)

    # -- plans -------------------------------------------------------------------------------

    def _plan(self, node: Any) -> None:
        kind, body = _variant(node)
        if kind is None or kind not in _PLAN_KINDS:
            self.reasons.add(f"unknown plan node {kind or type(node).__name__}")
            self._push_any(body)
            return
        if kind in _LEAVES:
            return
        if not isinstance(body, dict):
            self.reasons.add(f"unknown plan node {kind}")
            return
        handled = {"input", "options"}
        self._push_plan(body.get("input"))
        if kind == "IR":
            if "dsl" not in body:
                self.reasons.add(PLAN_NOT_INSPECTED)
            self._push_plan(body.get("dsl"))
            handled |= {"dsl", "version", "node"}
        elif kind in ("Cache", "MatchToSchema", "Sink"):
            handled |= {"id", "match_schema", "per_column", "extra_columns", "payload"}
        elif kind == "Filter":
            self._push_expr(body.get("predicate"))
            handled.add("predicate")
        elif kind == "Select":
            self._push_exprs(body.get("expr", []))
            handled.add("expr")
        elif kind == "HStack":
            self._push_exprs(body.get("exprs", []))
            handled.add("exprs")
        elif kind == "GroupBy":
            self._group_by(body)
            handled |= {"keys", "aggs", "predicates", "maintain_order", "apply"}
        elif kind == "Join":
            self._join(body)
            handled |= {"input_left", "input_right"}
        elif kind == "Distinct":
            self.reasons.add("unique")
        elif kind == "Sort":
            # Sorting alone only reorders rows; a sort that keeps the first k does not.
            options = body.get("sort_options") or {}
            if body.get("slice") is not None or options.get("limit") is not None:
                self.reasons.add("sort + slice (top_k/bottom_k)")
            handled |= {"by_column", "slice", "sort_options"}
        elif kind == "Slice":
            self.reasons.add("head/tail/slice")
            handled |= {"offset", "len"}
        elif kind == "MapFunction":
            self._map_function(body.get("function"))
            handled.add("function")
        elif kind in ("Union", "MergeSorted", "SinkMultiple"):
            inputs = body.get("inputs") or [body.get("input_left"), body.get("input_right")]
            inputs = [p for p in inputs if p is not None]
            for p in inputs:
                self._push_plan(p)
            # Stacking frames that all read the same source keeps rows row-local; stacking
            # in other data adds its rows to every run.
            if kind != "SinkMultiple" and len(set().union(*map(_leaves, inputs))) > 1:
                label = "concat" if kind == "Union" else "merge_sorted"
                self.reasons.add(f"{label} with other data")
            handled |= {"inputs", "input_left", "input_right", "args", "key"}
        elif kind == "HConcat":
            self.reasons.add("horizontal concat")
            for p in body.get("inputs", []):
                self._push_plan(p)
            handled.add("inputs")
        elif kind == "ExtContext":
            self.reasons.add("with_context")
            for p in body.get("contexts", []):
                self._push_plan(p)
            handled.add("contexts")
        elif kind == "Pivot":
            self.reasons.add("pivot")
            self._push_expr(body.get("agg"), in_group=True)
            handled |= {"on", "on_columns", "index", "values", "agg", "separator"}
        elif kind == "PipeWithSchema":
            self.reasons.add("pipe_with_schema (opaque)")
            handled.add("callback")
        elif kind == "SQL":
            # The query text is translated only at collect time: it cannot be read here.
            self.reasons.add("SQL query (not inspected)")
            handled |= {"query", "catalog_tables"}
        self._push_rest(body, handled)

    def _group_by(self, body: dict[str, Any]) -> None:
        options = body.get("options") or {}
        if options.get("rolling") is not None:
            self.reasons.add(_ROLLING)
        elif options.get("dynamic") is not None:
            self.reasons.add("group_by_dynamic")
        else:
            self.reasons.add("group_by")
        if body.get("apply") is not None:
            self.reasons.add("map_groups (opaque)")
        self._push_exprs(body.get("keys", []), in_group=True)
        self._push_exprs(body.get("aggs", []), in_group=True)
        self._push_exprs(body.get("predicates", []), in_group=True)

    def _join(self, body: dict[str, Any]) -> None:
        self._push_plan(body.get("input_left"))
        self._push_plan(body.get("input_right"))
        options = body.get("options") or {}
        args = options.get("args") or {}
        how, _ = _variant(args.get("how"))
        condition, _ = _variant(body.get("condition"))
        if how == "AsOf":
            self.reasons.add("join_asof")
        elif how == "Cross":
            self.reasons.add("cross join")
        elif condition == "NonEqui" or how == "IEJoin" or body.get("predicates"):
            self.reasons.add("join_where")
        else:
            self.reasons.add("join")

    def _map_function(self, function: Any) -> None:
        name, payload = _variant(function)
        if name in _ROW_LOCAL_MAP_FUNCTIONS:
            return
        if name == "FillNan":
            self._push_expr(payload)
        elif name == "RowIndex":
            self.reasons.add("with_row_index")
        elif name == "Stats":
            stat, _ = _variant(payload)
            self.reasons.add(_AGG.format(_snake(stat or "statistic")))
        elif name == "FastCount":
            self.reasons.add(_AGG.format("count"))
        elif name in ("OpaquePython", "Opaque", "PythonUdf"):
            self.reasons.add(_OPAQUE_UDF)
        else:
            self.reasons.add(f"unknown plan function {name or type(function).__name__}")

    # -- expressions -------------------------------------------------------------------------

    def _expr(self, node: Any, in_group: bool, positional: bool) -> None:
        if isinstance(node, str):
            if node == "Len":
                if not in_group:
                    self.reasons.add(_AGG.format("len"))
            elif node not in ("Element", "Wildcard"):
                self.reasons.add(f"unknown expression {node}")
            return
        kind, body = _variant(node)
        if kind is None or kind not in _EXPR_KINDS:
            self.reasons.add(f"unknown expression {kind or type(node).__name__}")
            self._push_any(body, in_group)
            return
        if kind in ("Column", "Columns", "Selector", "Nth", "Wildcard", "Exclude", "Field"):
            return
        if kind == "DataTypeFunction":  # facts about dtypes, not about rows
            return
        if kind == "Literal":
            self._literal(body, positional)
            return
        if kind == "Alias":
            if isinstance(body, list) and body:
                self._push_expr(body[0], in_group, positional)
            return
        if kind == "KeepName":
            self._push_expr(body, in_group, positional)
            return
        if not isinstance(body, dict):
            self.reasons.add(f"unknown expression {kind}")
            return
        sub = in_group, positional
        handled: set[str] = set()
        if kind == "RenameAlias":
            self._push_expr(body.get("expr"), *sub)
            handled = {"expr", "function"}
        elif kind == "Cast":
            self._push_expr(body.get("expr"), *sub)
            handled = {"expr", "dtype", "options"}
        elif kind == "BinaryExpr":
            self._push_expr(body.get("left"), *sub)
            self._push_expr(body.get("right"), *sub)
            handled = {"left", "right", "op"}
        elif kind == "Ternary":
            for key in ("predicate", "truthy", "falsy"):
                self._push_expr(body.get(key), *sub)
            handled = {"predicate", "truthy", "falsy"}
        elif kind == "Function":
            self._function(body, in_group, positional)
            handled = {"input", "function", "options"}
        elif kind == "AnonymousFunction":
            self._anonymous(body, in_group, positional)
            handled = {"input", "function", "options", "fmt_str"}
        elif kind == "Agg":
            self._agg(body, in_group)
            handled = set(body)
        elif kind == "Explode":
            self._push_expr(body.get("input"), *sub)
            handled = {"input", "options", "skip_empty"}
        elif kind in ("Filter", "Slice", "Sort", "SortBy", "Gather"):
            # Picking, reordering or dropping values of one column: within a group that is
            # the group's business (the group is reported); over a whole column it is not.
            if not in_group:
                labels = {
                    "Filter": "filter expression",
                    "Slice": "head/tail/slice expression",
                    "Sort": "sort expression",
                    "SortBy": "sort_by expression",
                    "Gather": "gather/get",
                }
                self.reasons.add(labels[kind])
            for key in ("input", "expr", "by", "offset", "length", "idx"):
                value = body.get(key)
                if isinstance(value, list):
                    self._push_exprs(value, in_group, positional=False)
                else:
                    self._push_expr(value, in_group, positional=False)
            handled = {"input", "expr", "by", "offset", "length", "idx"}
            handled |= {"options", "sort_options", "returns_scalar", "null_on_oob"}
        elif kind in ("Over", "Window"):
            self.reasons.add(_OVER)
            self._push_expr(body.get("function"), in_group=True)
            self._push_exprs(body.get("partition_by") or [], in_group=True)
            order_by = body.get("order_by")
            if isinstance(order_by, list) and order_by:
                self._push_expr(order_by[0], in_group=True)
            handled = {"function", "partition_by", "order_by", "mapping", "options"}
        elif kind == "Rolling":
            self.reasons.add(_ROLLING)
            self._push_expr(body.get("function"), in_group=True)
            self._push_expr(body.get("index_column"), in_group=True)
            handled = {"function", "index_column", "period", "offset", "closed_window"}
        elif kind == "Eval":
            self._eval(body, in_group, positional)
            handled = {"expr", "evaluation", "variant"}
        elif kind == "StructEval":
            # Evaluated over the struct's fields as columns: aggregates there span rows.
            self._push_expr(body.get("expr"), *sub)
            self._push_exprs(body.get("evaluation") or [], *sub)
            handled = {"expr", "evaluation", "variant"}
        elif kind == "SubPlan":
            self.reasons.add("subplan")
        self._push_rest(body, handled, in_group)

    def _literal(self, body: Any, positional: bool) -> None:
        name, payload = _variant(body)
        if name == "Series" and positional:
            # A literal column is aligned with the frame by row position (a one-value
            # Series broadcasts like a scalar).
            if _series_literal_height(payload) != 1:
                self.reasons.add("literal Series (aligned by row position)")
        elif name == "Range":
            self.reasons.add("literal range (aligned by row position)")

    def _function(self, body: dict[str, Any], in_group: bool, positional: bool) -> None:
        inputs = body.get("input") or []
        name, payload = _variant(body.get("function"))
        reason, is_agg = self._classify_function(name, payload, inputs)
        if reason is not None:
            if not is_agg:
                self.reasons.add(reason)
            elif not in_group and _reads_rows(inputs):
                self.reasons.add(_AGG.format(reason))
        set_args = name in _SET_ARGUMENT_FUNCTIONS or (
            name == "Boolean" and _variant(payload)[0] in _SET_ARGUMENT_FUNCTIONS
        )
        if set_args and not in_group and isinstance(inputs, list):
            # is_in(col) tests membership in the whole column (unless it is a list column:
            # one list per row); replace(col, col) maps through all the column's rows.
            for item in inputs[1:]:
                if _reads_rows(item) and not self._is_list_column(item):
                    label = "is_in" if name == "Boolean" else _snake(name or "replace")
                    self.reasons.add(f"{label} with a column argument (reads other rows)")
        if isinstance(inputs, list):
            for i, item in enumerate(inputs):
                self._push_expr(item, in_group, positional and not (set_args and i > 0))
        else:
            self._push_any(inputs, in_group)

    def _classify_function(
        self, name: str | None, payload: Any, inputs: Any
    ) -> tuple[str | None, bool]:
        """``(reason, is_aggregate)``; ``(None, False)`` for a row-local function."""
        if name is None:
            return "unknown function", False
        if name in _ORDER_FUNCTIONS:
            return _ORDER_FUNCTIONS[name], False
        if name in _AGG_FUNCTIONS:
            return _AGG_FUNCTIONS[name], True
        inner, inner_payload = _variant(payload)
        if name == "Boolean":
            if inner in _BOOLEAN_ROW_LOCAL:
                return None, False
            if inner in _BOOLEAN_AGG:
                return _BOOLEAN_AGG[inner], True
            if inner in _BOOLEAN_ORDER:
                return _BOOLEAN_ORDER[inner], False
            return f"unknown function Boolean.{inner}", False
        if name == "Bitwise":
            if inner in _BITWISE_AGG:
                return _BITWISE_AGG[inner], True
            return None, False
        if name == "Range":
            # int_ranges/date_ranges (plural) build one list per row; int_range/date_range
            # build a column that lines up with the frame by position.
            if inner is not None and inner.endswith("s"):
                return None, False
            return f"{_snake(inner or 'range')} (generated column, aligned by row position)", False
        if name == "FillNullWithStrategy":
            if inner in _FILL_STRATEGY_ROW_LOCAL:
                return None, False
            if inner in _FILL_STRATEGY_ORDER:
                return _FILL_STRATEGY_ORDER[inner], False
            return f"fill_null(strategy={_snake(inner or 'unknown')!r})", True
        if name == "RollingExpr":
            fn = inner_payload.get("function") if isinstance(inner_payload, dict) else None
            fn_name, _ = _variant(fn)
            if fn_name is None and isinstance(payload, dict):
                fn_name, _ = _variant(payload.get("function"))
            return f"rolling_{_snake(fn_name or 'window')}", False
        if name == "RollingExprBy":
            fn = inner_payload.get("function_by") if isinstance(inner_payload, dict) else None
            fn_name, _ = _variant(fn)
            if fn_name is None and isinstance(payload, dict):
                fn_name, _ = _variant(payload.get("function_by"))
            label = _snake(fn_name or "window")
            return f"rolling_{label if label.endswith('_by') else label + '_by'}", False
        if name == "StringExpr":
            if inner == "ConcatVertical":
                return "str.join", True
            if inner == "Strptime" and _strptime_infers(inner_payload):
                return "str.strptime/to_datetime without a format (inferred from the data)", False
            if inner == "JsonDecode" and inner_payload is None:
                return "str.json_decode without a dtype (inferred from the data)", False
            return None, False
        if name == "Bin":
            # Explicit breakpoints bin each value alone; a bin count (equal-width bins over
            # the column's range), quantiles and ranks are computed from the whole column.
            method = payload.get("method") if isinstance(payload, dict) else None
            kind, spec = _variant(method)
            spec_kind, _ = _variant(spec.get("spec") if isinstance(spec, dict) else None)
            if kind == "Intervals" and spec_kind == "Breaks":
                return None, False
            labels = {
                "Intervals": "bin_intervals with a bin count",
                "Quantiles": "bin_quantiles",
                "Ranks": "bin_ranks",
            }
            return labels.get(kind or "", "bin"), False
        if name == "TemporalExpr":
            if inner == "ReplaceTimeZone" and _ambiguous_infer(inputs):
                return "replace_time_zone(ambiguous='infer')", False
            return None, False
        if name in _ROW_LOCAL_FUNCTIONS:
            return None, False
        return f"unknown function {name}", False

    def _is_list_column(self, expr: Any) -> bool:
        name, payload = _variant(expr)
        return name == "Column" and payload in self._list_columns

    def _anonymous(self, body: dict[str, Any], in_group: bool, positional: bool) -> None:
        options = body.get("options") or {}
        flags = str(options.get("flags", ""))
        elementwise = ("ROW_SEPARABLE" in flags and "LENGTH_PRESERVING" in flags) or options.get(
            "collect_groups"
        ) == "ElementWise"
        if not elementwise:
            # map_batches sees a whole column; map_elements (and is_elementwise=True) one row.
            self.reasons.add(_OPAQUE_UDF)
        self._push_exprs(body.get("input") or [], in_group, positional)

    def _agg(self, body: dict[str, Any], in_group: bool) -> None:
        name, payload = _variant(body)
        label = _snake(name or "aggregate")
        if name == "Count" and isinstance(payload, dict) and payload.get("include_nulls"):
            label = "len"
        if not in_group and _reads_rows(payload):
            self.reasons.add(_AGG.format(label))
        # The aggregate's input: an expression, {"input"/"expr": expression, ...} or
        # [expression, ddof].
        if isinstance(payload, str) or (isinstance(payload, dict) and _is_expr(payload)):
            self._push_expr(payload, in_group, positional=False)
        elif isinstance(payload, dict):
            for key, value in payload.items():
                if key in ("input", "expr", "quantile"):
                    self._push_expr(value, in_group, positional=False)
                else:
                    self._push_any(value, in_group)
        elif isinstance(payload, list) and payload:
            self._push_expr(payload[0], in_group, positional=False)

    def _eval(self, body: dict[str, Any], in_group: bool, positional: bool) -> None:
        self._push_expr(body.get("expr"), in_group, positional)
        variant, _ = _variant(body.get("variant"))
        if variant in _PER_ROW_EVAL:
            return  # list.eval / arr.eval: the evaluation sees one row's elements
        if variant == "Cumulative":
            self.reasons.add("cumulative_eval")
        else:
            self.reasons.add(f"unknown eval {variant}")
        self._push_expr(body.get("evaluation"), in_group=True)


def _is_expr(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)) in _EXPR_KINDS


def _strptime_infers(payload: Any) -> bool:
    """Whether a Strptime payload (``[dtype, options]``) has no format."""
    if isinstance(payload, list):
        for item in payload:
            if isinstance(item, dict) and "format" in item:
                return item["format"] is None
    if isinstance(payload, dict) and "format" in payload:
        return payload["format"] is None
    return True


def _ambiguous_infer(inputs: Any) -> bool:
    """Whether ``replace_time_zone``'s ``ambiguous`` argument is the literal "infer" (which
    resolves DST folds from neighbouring rows)."""
    if not isinstance(inputs, list):
        return True
    for item in inputs[1:]:
        for value in _iter_json(item):
            if value == "infer":
                return True
    return False
