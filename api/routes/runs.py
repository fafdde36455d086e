"""Re-cluster runs as background jobs, and the jobs themselves."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import AdminWorkspace, JobsDep, ReadWorkspace, StoreDep
from api.schemas import PROBLEM_RESPONSES, JobPublic, RunCreate, RunPublic, RunsPublic
from voc.errors import NotFoundError
from voc.store import Job
from voc.types import Run

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["runs"], responses=PROBLEM_RESPONSES)


def job_public(job: Job) -> JobPublic:
    return JobPublic(
        job_id=job.id,
        kind=job.kind,
        status=job.status,
        params=job.params,
        progress=job.progress,
        result=job.result,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def _run_public(run: Run) -> RunPublic:
    return RunPublic(
        run_id=run.run_id,
        status=run.status,
        is_current=run.is_current,
        started_at=run.started_at,
        finished_at=run.finished_at,
        params=run.params,
        model_id=run.model_id,
        code_version=run.code_version,
        timings=run.timings,
        n_units=run.n_units,
        n_themes=run.n_themes,
        unassigned=run.unassigned,
        stability=run.stability,
        data_until=run.data_until,
        error=run.error,
    )


@router.post(
    "/runs",
    status_code=202,
    response_model=JobPublic,
    responses={409: {"description": "A run of this workspace is already queued or running."}},
)
def start_run(
    ws: AdminWorkspace, jobs: JobsDep, response: Response, body: RunCreate | None = None
) -> JobPublic:
    """Queue a re-cluster of every unit; `params.run_id` names the run it will make. Poll the
    job (Location) or the run."""
    body = body or RunCreate()
    job = jobs.start_run(ws, body.seed, body.params)
    response.headers["Location"] = f"/v1/workspaces/{ws}/jobs/{job.id}"
    return job_public(job)


@router.get("/runs", response_model=RunsPublic)
def list_runs(ws: ReadWorkspace, store: StoreDep) -> RunsPublic:
    """Runs, newest first, with status, parameters and timings."""
    runs = store.list_runs(ws)
    return RunsPublic(data=[_run_public(r) for r in runs], count=len(runs))


@router.get("/runs/{run_id}", response_model=RunPublic)
def get_run(ws: ReadWorkspace, run_id: str, store: StoreDep) -> RunPublic:
    """Status, parameters, timings and, for a run the API started, its job's progress."""
    job = store.run_job(ws, run_id)
    try:
        run = store.get_run(ws, run_id)
    except NotFoundError:
        if job is None or job.status != "queued":
            raise
        raise NotFoundError(
            f"run {run_id!r} is queued and has not started; follow job {job.id!r} at "
            f"/v1/workspaces/{ws}/jobs/{job.id}."
        ) from None
    public = _run_public(run)
    if job is not None:
        public.job_id, public.progress = job.id, job.progress
    return public


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(ws: ReadWorkspace, job_id: str, store: StoreDep) -> JobPublic:
    """A run or upload job: status, progress, and its result (run id, ingest counts)."""
    return job_public(store.get_job(ws, job_id))
