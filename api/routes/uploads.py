"""Uploads: a file in any format the adapters read, streamed to disk and ingested by a job."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import UploadFile

from api.deps import JobsDep, SettingsDep, SubmitWorkspace
from api.errors import PayloadTooLargeError
from api.jobs import upload_path
from api.limits import limit_message
from api.routes.runs import job_public
from api.schemas import PROBLEM_RESPONSES, JobPublic
from voc.errors import InputError

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["uploads"], responses=PROBLEM_RESPONSES)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CHUNK = 1 << 20


def _safe_name(filename: str) -> str:
    """The file's own name, without folders or characters a file system may refuse; the
    extension is kept because it picks the reader."""
    return _UNSAFE.sub("_", filename.replace("\\", "/").rsplit("/", 1)[-1]).lstrip(".") or "upload"


async def _form_chunks(part: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await part.read(_CHUNK):
        yield chunk


async def _save(chunks: AsyncIterator[bytes], path: Path, limit: int) -> None:
    """Write chunks to `path`, stopping with 413 as soon as they pass the limit."""
    size = 0
    try:
        with path.open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(limit_message(limit))
                out.write(chunk)
    except PayloadTooLargeError:
        path.unlink(missing_ok=True)
        path.parent.rmdir()
        raise


@router.post(
    "/uploads",
    status_code=202,
    response_model=JobPublic,
    responses={413: {"description": "The file is over VOC_API_UPLOAD_LIMIT_MB."}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        }
    },
)
async def upload(
    ws: SubmitWorkspace,
    request: Request,
    response: Response,
    settings: SettingsDep,
    jobs: JobsDep,
    source: Annotated[Literal["ticket", "call", "review", "interview"], Query()],
    filename: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="The file's name; its extension (.csv, .json, .jsonl, .txt, .vtt, "
            ".srt, .md) picks the reader. A multipart upload may leave it to the form.",
        ),
    ] = None,
) -> JobPublic:
    """Send the file as the raw body (`curl --data-binary @f.csv "...?filename=f.csv"`) or as
    a form field named `file` (`curl -F file=@f.csv`); returns the job that ingests it."""
    limit = int(settings.api_upload_limit_mb * 1e6)
    # The folder is named by the job to be, so a job queued again after a crash finds it.
    folder = upload_path(settings.data_dir, ws, jobs.new_upload_id(), "-").parent
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=1) as form:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise InputError("send the file in a multipart form field named `file`.")
            path = folder / _safe_name(filename or part.filename or "")
            folder.mkdir(parents=True)
            await _save(_form_chunks(part), path, limit)
    else:
        if filename is None:
            raise InputError(
                "name the file with ?filename=export.csv; its extension picks the reader."
            )
        path = folder / _safe_name(filename)
        folder.mkdir(parents=True)
        await _save(request.stream(), path, limit)
    job = jobs.start_upload(ws, path, source)
    response.headers["Location"] = f"/v1/workspaces/{ws}/jobs/{job.id}"
    return job_public(job)
