"""Curation by product managers (`admin` scope): rename, merge, split off, pin or hide a theme,
list the curations on record (`read` scope), and undo one.

Each change is recorded (voc.store `curations`), applied to the current run's served themes at
once, re-applied after every re-cluster, and written to the lineage; an undo re-derives the
served themes without it and is written to the lineage too.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request

from api.deps import AdminWorkspace, CurrentKey, ReadWorkspace, SettingsDep, StoreDep
from api.schemas import (
    PROBLEM_RESPONSES,
    CurationPublic,
    CurationRecord,
    CurationsPublic,
    CurationUndone,
    MergeBody,
    PinBody,
    RenameBody,
    SplitBody,
)
from voc.pipeline import curate, undo_curation
from voc.settings import VocSettings
from voc.store import Store, StoredCuration

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["curation"], responses=PROBLEM_RESPONSES)


def _forget_themes(request: Request, store: Store, ws: str) -> None:
    """The run's themes changed in place: the themes cache and answers follow by themselves
    (the store bumped the run's `themes_version`, api/themecache.py); the live assigner's
    centroids are dropped here."""
    run = store.current_run(ws)
    if run is not None and request.app.state.assigner is not None:
        request.app.state.assigner.forget(run.run_id)


def _record(cur: StoredCuration) -> CurationRecord:
    return CurationRecord(
        curation_id=cur.id,
        kind=cur.kind,  # type: ignore[arg-type]
        theme_id=cur.theme_id,
        name=cur.name,
        target_id=cur.target_id,
        unit_ids=cur.unit_ids,
        created_at=cur.created_at,
        created_by=cur.created_by,
        active=cur.active,
        reason=cur.reason,
    )


def _apply(
    request: Request,
    store: Store,
    settings: VocSettings,
    ws: str,
    key_id: str,
    kind: str,
    theme_id: str,
    name: str | None = None,
    target_id: str | None = None,
    unit_ids: Sequence[str] = (),
) -> CurationPublic:
    cur, themes = curate(store, settings, ws, kind, theme_id, key_id, name, target_id, unit_ids)
    _forget_themes(request, store, ws)
    run = store.current_run(ws)
    assert run is not None
    return CurationPublic(
        **_record(cur).model_dump(exclude={"active"}),
        run_id=run.run_id,
        themes=sum(t.level == 0 for t in themes),
    )


@router.post("/themes/{theme_id}/rename", response_model=CurationPublic)
def rename(
    ws: AdminWorkspace,
    theme_id: str,
    body: RenameBody,
    request: Request,
    key: CurrentKey,
    store: StoreDep,
    settings: SettingsDep,
) -> CurationPublic:
    """Show the theme under a new name, now and after every re-cluster."""
    return _apply(request, store, settings, ws, key.id, "rename", theme_id, name=body.name)


@router.post("/themes/{theme_id}/merge", response_model=CurationPublic)
def merge(
    ws: AdminWorkspace,
    theme_id: str,
    body: MergeBody,
    request: Request,
    key: CurrentKey,
    store: StoreDep,
    settings: SettingsDep,
) -> CurationPublic:
    """Serve this theme's units as `target_id` from now on."""
    return _apply(request, store, settings, ws, key.id, "merge", theme_id, target_id=body.target_id)


@router.post("/themes/{theme_id}/split", response_model=CurationPublic)
def split(
    ws: AdminWorkspace,
    theme_id: str,
    body: SplitBody,
    request: Request,
    key: CurrentKey,
    store: StoreDep,
    settings: SettingsDep,
) -> CurationPublic:
    """Move some of this theme's units into a new theme (a new id, returned)."""
    return _apply(
        request,
        store,
        settings,
        ws,
        key.id,
        "split_off",
        theme_id,
        name=body.name,
        unit_ids=body.unit_ids,
    )


@router.post("/themes/{theme_id}/pin", response_model=CurationPublic)
def pin(
    ws: AdminWorkspace,
    theme_id: str,
    request: Request,
    key: CurrentKey,
    store: StoreDep,
    settings: SettingsDep,
    body: PinBody | None = None,
) -> CurationPublic:
    """Keep this theme's id and name through re-clusters whenever any cluster holds its units."""
    name = body.name if body else None
    return _apply(request, store, settings, ws, key.id, "pin", theme_id, name=name)


@router.post("/themes/{theme_id}/hide", response_model=CurationPublic)
def hide(
    ws: AdminWorkspace,
    theme_id: str,
    request: Request,
    key: CurrentKey,
    store: StoreDep,
    settings: SettingsDep,
) -> CurationPublic:
    """Leave the theme out of theme lists and alerts (its units stay in it)."""
    return _apply(request, store, settings, ws, key.id, "hide", theme_id)


@router.get("/curations", response_model=CurationsPublic)
def list_curations(ws: ReadWorkspace, store: StoreDep) -> CurationsPublic:
    """Every curation of the workspace in the order it applies, undone ones included."""
    data = [_record(c) for c in store.list_curations(ws, active_only=False)]
    return CurationsPublic(data=data, count=len(data))


@router.delete(
    "/curations/{curation_id}",
    response_model=CurationUndone,
    responses={409: {"description": "The curation was already undone."}},
)
def undo(
    ws: AdminWorkspace,
    curation_id: int,
    request: Request,
    key: CurrentKey,
    store: StoreDep,
    settings: SettingsDep,
) -> CurationUndone:
    """Stop applying a curation; the current run's themes are served without it at once."""
    cur, themes = undo_curation(store, settings, ws, curation_id, key.id)
    _forget_themes(request, store, ws)
    run = store.current_run(ws)
    return CurationUndone(
        curation=_record(cur),
        run_id=run.run_id if run else None,
        themes=sum(t.level == 0 for t in themes),
    )
