"""The console's task search: one account's tasks across families, newest first, by keyset.

Keyset (``created_at``, ``id``) pagination instead of offsets: a page costs the same however deep
it is, and tasks created while someone pages never shift or repeat rows. Filters are all optional;
the prompt filter is a case-insensitive substring of the request's ``prompt`` field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import JSON, ColumnElement, String, and_, cast, func, or_, select, type_coerce

from .database import Database
from .tables import tasks
from .tasks import COLUMNS, TaskRow


@dataclass(frozen=True)
class TaskFilter:
    """What to look for; empty sequences and None mean "any"."""

    account_id: str
    families: Sequence[str] = ()
    statuses: Sequence[str] = ()
    created_from: int | None = None  # ms, inclusive
    created_to: int | None = None  # ms, exclusive
    external_task_id: str | None = None
    prompt_text: str | None = None
    model_name: str | None = None  # as asked for: model_name, legacy model, or input.model_name


@dataclass(frozen=True)
class Position:
    """The last row of a page: the next page starts strictly after it."""

    created_at: int
    id: str


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _request_text(db: Database, *path: str) -> ColumnElement[str]:
    """A text field of the stored request JSON: ``->>`` on PostgreSQL (the column is text, so
    cast), ``json_extract`` on SQLite."""
    as_json = cast(tasks.c.request, JSON) if db.is_postgres else type_coerce(tasks.c.request, JSON)
    node = as_json[path[0]] if len(path) == 1 else as_json[tuple(path)]
    text: ColumnElement[str] = node.as_string()
    return text


def _model(db: Database) -> ColumnElement[str]:
    """The model a request asks for, as :func:`kling_gateway.schemas.model_name_of` reads it."""
    fields = (
        _request_text(db, "model_name"),
        _request_text(db, "model"),
        _request_text(db, "input", "model_name"),
    )
    model: ColumnElement[str] = func.coalesce(*fields)
    return model


def _conditions(db: Database, f: TaskFilter, after: Position | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [tasks.c.account_id == f.account_id]
    if f.families:
        conditions.append(tasks.c.family.in_(list(f.families)))
    if f.statuses:
        conditions.append(tasks.c.status.in_(list(f.statuses)))
    if f.created_from is not None:
        conditions.append(tasks.c.created_at >= f.created_from)
    if f.created_to is not None:
        conditions.append(tasks.c.created_at < f.created_to)
    if f.external_task_id is not None:
        conditions.append(tasks.c.external_task_id == f.external_task_id)
    if f.prompt_text:
        pattern = "%" + _like_escape(f.prompt_text.lower()) + "%"
        conditions.append(func.lower(cast(_request_text(db, "prompt"), String)).like(pattern, escape="\\"))
    if f.model_name is not None:
        conditions.append(_model(db) == f.model_name)
    if after is not None:
        conditions.append(
            or_(
                tasks.c.created_at < after.created_at,
                and_(tasks.c.created_at == after.created_at, tasks.c.id < after.id),
            )
        )
    return conditions


@dataclass(frozen=True)
class Found:
    """A matching task with its prompt and model, read by the database from the stored request
    (a request may hold megabytes of Base64 media: it is not parsed here)."""

    row: TaskRow
    prompt: str | None
    model_name: str | None


async def search_tasks(
    db: Database, f: TaskFilter, limit: int, after: Position | None = None
) -> tuple[list[Found], Position | None]:
    """One page of matching tasks, newest first, and where the next page starts (None: last)."""
    query = (
        select(*COLUMNS, _request_text(db, "prompt"), _model(db))
        .where(*_conditions(db, f, after))
        .order_by(tasks.c.created_at.desc(), tasks.c.id.desc())
        .limit(limit + 1)
    )
    width = len(COLUMNS)
    async with db.read.connect() as conn:
        found = [
            Found(TaskRow(*r[:width]), r[width], r[width + 1]) for r in (await conn.execute(query)).all()
        ]
    page = found[:limit]
    more = len(found) > limit
    return page, (Position(page[-1].row.created_at, page[-1].row.id) if more and page else None)
