"""Windows profiled where they live: a window of an endpoint whose cloud keeps its
traffic where a job of Atrium's own program can profile it (a Databricks inference
table: ``apps.backends.base.WindowProfiles``) is profiled there, by a job run on the
cluster, and only the merged profile comes back. The portal's worker never reads the
window's rows; it submits, polls (the run engine's step, ``compute.DriftStep``) and
reads one profile.

Always, for such an endpoint, whatever the window's size: the table is the endpoint's
complete record (the capture store holds what the gateway sampled plus what the
cloud-capture pull copied, hours late), its size is not known without asking the cloud
anyway, and a monitor whose windows switched between two sources with its traffic
would compare numbers made two ways. A window of an endpoint that logs to no table,
and every other endpoint's, is read from the capture store as before, file by file.

A step's external id carries the cloud jobs it waits on:
``drift:<report id>;current=<job id>;reference=<job id>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from apps.backends.base import JobState, JobStatus, WindowProfiles, WindowSpec
from apps.backends.jobs.profiles import DatasetProfile
from apps.connections.models import Connection
from apps.connections.services import connection_backend
from apps.deployments.selectors import endpoint_route
from apps.gateway.capture import sensitive_lookup

from .sources import Side


@dataclass(frozen=True)
class Profiler:
    backend: WindowProfiles
    sensitive: frozenset[str]


def profiler_for(endpoint: str) -> Profiler | None:
    """The backend that profiles ``endpoint``'s windows where they live, with the columns
    the gateway masks for it; None when its traffic is read from the capture store.
    Reads the portal's own records only (no call to the cloud)."""
    route = endpoint_route(name=endpoint)
    if route is None or route.connection_id is None:
        return None
    connection = Connection.objects.filter(pk=route.connection_id).first()
    if connection is None:
        return None
    backend = connection_backend(connection)
    if not isinstance(backend, WindowProfiles):
        return None
    masked = route.sensitive | sensitive_lookup(list(settings.GATEWAY_SENSITIVE_COLUMNS))(endpoint)
    return Profiler(backend, frozenset(masked))


def windows_submit(sides: dict[str, Side], *, key: str, tags: dict[str, str]) -> dict[str, str]:
    """The cloud jobs profiling those of ``sides`` (by name: "reference", "current") that
    live in a cloud: side -> the job's id. A side whose endpoint logs to no table is left
    to the capture store (not in the answer)."""
    jobs = {}
    for name, side in sides.items():
        if side.kind != "window" or (profiler := profiler_for(side.endpoint)) is None:
            continue
        spec = WindowSpec(
            key=f"{key}-{name}",
            endpoint=side.endpoint,
            since=side.start,
            until=side.end,
            sensitive=tuple(sorted(profiler.sensitive)),
            tags=tags,
        )
        external_id = profiler.backend.submit_window_profile(spec)
        if external_id:
            jobs[name] = external_id
    return jobs


def external_id_of(report_id, jobs: dict[str, str]) -> str:
    return ";".join([f"drift:{report_id}", *(f"{name}={job}" for name, job in sorted(jobs.items()))])


def jobs_of(external_id: str) -> dict[str, str]:
    """The cloud jobs an external id names (none for a report computed in the worker alone)."""
    parts = external_id.split(";")[1:]
    return dict(part.split("=", 1) for part in parts if "=" in part)


def windows_poll(sides: dict[str, Side], jobs: dict[str, str]) -> tuple[JobStatus, dict[str, DatasetProfile]]:
    """Where the cloud jobs are: RUNNING (progress, the slowest's), FAILED (the first
    failure's message) or SUCCEEDED with each side's profile read back."""
    statuses = {}
    for name, job in jobs.items():
        profiler = profiler_for(sides[name].endpoint)
        if profiler is None:
            return JobStatus(JobState.FAILED, message=f"The endpoint {sides[name].endpoint} is gone."), {}
        statuses[name] = (profiler, profiler.backend.poll_window_profile(job))
    for name, (_, status) in statuses.items():
        if status.state.is_terminal and status.state != JobState.SUCCEEDED:
            why = status.message or f"The job ended {status.state.value}."
            return JobStatus(JobState.FAILED, message=f"Profiling the {name} window on the cluster failed: {why}"), {}
    waiting = [status for _, status in statuses.values() if status.state != JobState.SUCCEEDED]
    if waiting:
        progress = min(status.progress for status in waiting)
        message = "Profiling the window where it lives (a job run on the cluster)"
        links = [link for status in waiting for link in status.links]
        return JobStatus(JobState.RUNNING, progress=progress, message=message, links=links), {}
    profiles = {
        name: DatasetProfile.from_bytes(profiler.backend.read_window_profile(status))
        for name, (profiler, status) in statuses.items()
    }
    return JobStatus(JobState.SUCCEEDED), profiles
