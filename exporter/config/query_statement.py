"""Checks that a configured statement is one read-only query, before it ever reaches a database.

The statement is parsed with PostgreSQL's own parser (pglast wraps libpg_query), so a syntax
error, a second statement or a write is refused at start-up with the exact reason. This is a
courtesy, not the guard: a function that writes can hide behind ``SELECT f()``, and the
read-only transaction every query runs in is what refuses it (see ``readonly.py``).

Statements may use the run's parameters as ``%(name)s`` (psycopg's named placeholders), so a
literal ``%`` is written ``%%``.
"""

from __future__ import annotations

import re
from typing import Any

# pglast (PostgreSQL's parser, a C extension and its tree classes: about 4 MiB resident) is
# imported inside the functions that parse, not here: this module is imported at start by the
# config loader, and a configuration without statements of its own (none, or only the wedding
# pack's, which the tests check) never parses one, so the exporter need not carry the parser.

# The parameters every run passes (see parameters.py); names a statement may refer to.
PARAMETERS: tuple[str, ...] = ("now", "today", "today_start", "tomorrow_start", "timezone")

_PLACEHOLDER = re.compile(r"%(?:(%)|\((\w+)\)s|)")
# Nodes that write, lock rows or create objects, wherever they sit in the tree.
_WRITING_NODES = {
    "InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE",
    "MergeStmt": "MERGE", "IntoClause": "SELECT ... INTO", "LockingClause": "FOR UPDATE/SHARE",
}


class StatementError(ValueError):
    """The statement is not one read-only query; the message says why in one sentence."""


def _node_kinds(tree: Any) -> set[str]:
    """The class name of every node of a parse tree."""
    from pglast.visitors import Visitor  # lazy: see the note at the imports

    class NodeKinds(Visitor):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.kinds: set[str] = set()

        def visit(self, _ancestors: Any, node: Any) -> None:
            self.kinds.add(type(node).__name__)

    finder = NodeKinds()
    finder(tree)
    return finder.kinds


def _for_parser(sql: str) -> str:
    """``sql`` with psycopg placeholders as PostgreSQL ``$n`` parameters (which it can parse)."""
    numbers: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "%"
        name = match.group(2)
        if name is None:
            raise StatementError(
                "a lone % is not allowed: write a literal % as %%, or a parameter as "
                f"%(name)s with name one of {', '.join(PARAMETERS)}")
        if name not in PARAMETERS:
            raise StatementError(f"unknown parameter %({name})s; known: {', '.join(PARAMETERS)}")
        numbers.setdefault(name, len(numbers) + 1)
        return f"${numbers[name]}"

    return _PLACEHOLDER.sub(replace, sql)


def check_statement(sql: str) -> None:
    """Raise StatementError unless ``sql`` is one SELECT (or WITH, VALUES) that writes nothing."""
    if not sql.strip():
        raise StatementError("the statement is empty")
    from pglast import parse_sql  # lazy: see the note at the imports
    from pglast.parser import ParseError

    try:
        parsed = parse_sql(_for_parser(sql))
    except ParseError as exc:
        raise StatementError(f"not valid SQL: {exc}") from None
    if len(parsed) != 1:
        raise StatementError(f"expected one statement, found {len(parsed)}")
    statement = parsed[0].stmt
    if type(statement).__name__ != "SelectStmt":
        kind = type(statement).__name__.removesuffix("Stmt").upper()
        raise StatementError(f"not a query: a {kind} statement; only SELECT or WITH ... SELECT "
                             "may run")
    kinds = _node_kinds(parsed)
    writes = sorted(label for node, label in _WRITING_NODES.items() if node in kinds)
    if writes:
        raise StatementError(f"not read-only: it uses {', '.join(writes)}")


_TRAILING = {"ASCII_59", "SQL_COMMENT", "C_COMMENT"}  # `;` and comments


def without_trailing(sql: str) -> str:
    """``sql`` up to its last token that is neither a semicolon nor a comment."""
    from pglast.parser import scan  # lazy: see the note at the imports

    tokens = [t for t in scan(sql) if t.name not in _TRAILING]
    if not tokens:
        return sql
    return sql[: tokens[-1].end + 1]


def limited(body: str, limit: int) -> str:
    """``body`` (a statement that ends in neither ``;`` nor a comment: see ``without_trailing``)
    as a subquery, so that the server stops after ``limit`` rows."""
    return f"SELECT * FROM (\n{body}\n) AS wedsync_query LIMIT {int(limit)}"
