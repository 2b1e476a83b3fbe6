"""``llmflows-tui gc``: forget old finished runs and free their checkpoint objects.

Kept: pinned runs, runs not finished (running, paused, crashed: they may continue),
the ``keep_last`` newest runs, and runs newer than ``older_than_days``. For the
others, in this order (so the store never points at a missing object): the
store forgets them (one transaction), their ``refs/llmflows/<run>/*`` refs are
deleted, and the loose git objects that nothing else reaches any more — not a
branch, tag, stash, reflog, the index or another run's checkpoint — are removed
if they are older than a grace period (git refreshes an object's time when it
writes it again, so an object another process is reusing right now is kept).
Packed objects are left to git's own ``gc``.

A follow-up run's history does not run through the run it follows (its first
commit has no git parent there), so collecting the old run frees what only it
used. A kept run whose git history does include a collected run's checkpoints (a
fork, or a follow-up made before that) keeps those objects alive; the report
names each such run and what kept it (``kept_linked``). A dry run changes nothing
and reports the same figures, walking as if the collected runs' refs were gone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.git.checkpoints import REF_PREFIX
from engine.git.repo import open_repo, run_git
from engine.records import FINISHED

GRACE_S = 3600.0


@dataclass
class GcReport:
    runs: list[str] = field(default_factory=list)
    refs: int = 0
    objects: int = 0
    bytes_freed: int = 0
    kept_pinned: list[str] = field(default_factory=list)
    dry_run: bool = False
    # collected run -> the kept runs whose git history still reaches its checkpoints
    # (an empty list: another git ref reaches them); their objects were not freed
    kept_linked: dict[str, list[str]] = field(default_factory=dict)


def pin(session, run_id: str, pinned: bool = True) -> None:
    """Pinned runs are never collected."""
    from engine.run.operations import get_run

    run = get_run(session, run_id)
    config = dict(run.get("config") or {})
    config["pinned"] = pinned
    session.store.update_run(run_id, config=config)


def select_runs(
    runs: list[dict], keep_last: int, older_than_days: float | None, now: float
) -> tuple[list[str], list[str]]:
    """(runs to collect, pinned runs that would otherwise have been collected)."""
    newest_first = sorted(runs, key=lambda r: r.get("created_at") or 0, reverse=True)
    doomed: list[str] = []
    pinned: list[str] = []
    for r in newest_first[keep_last:]:
        if r["status"] not in FINISHED:
            continue
        if (
            older_than_days is not None
            and now - (r.get("created_at") or now) < older_than_days * 86400
        ):
            continue
        (pinned if (r.get("config") or {}).get("pinned") else doomed).append(r["id"])
    return doomed, pinned


def collect(
    session,
    *,
    keep_last: int = 20,
    older_than_days: float | None = None,
    dry_run: bool = False,
    grace_s: float = GRACE_S,
) -> GcReport:
    now = time.time()
    doomed, pinned = select_runs(session.store.list_runs(), keep_last, older_than_days, now)
    report = GcReport(runs=doomed, kept_pinned=pinned, dry_run=dry_run)
    if not doomed:
        return report
    with open_repo(session.repo_root) as repo:
        refs: list[tuple[str, str]] = []
        commits: set[str] = set()  # checkpoints (the other refs hold blobs a write kept)
        for run_id in doomed:
            out = str(
                run_git(
                    repo,
                    "for-each-ref",
                    "--format=%(objectname) %(objecttype) %(refname)",
                    f"{REF_PREFIX}/{run_id}/",
                )
            )
            for sha, kind, ref in (line.split(" ", 2) for line in out.splitlines() if line):
                refs.append((sha, ref))
                if kind == "commit":
                    commits.add(sha)
        report.refs = len(refs)
        branches = session.store.runs_branching_from(doomed)
        if not dry_run:
            session.store.delete_runs(doomed)
            if refs:
                run_git(
                    repo,
                    "update-ref",
                    "--stdin",
                    input="".join(f"delete {name} {sha}\n" for sha, name in refs).encode(),
                )
        if refs:
            # A dry run leaves the refs in place and walks as if they were gone.
            hidden = doomed if dry_run else []
            objects, kept = _unreachable_from_rest(repo, [sha for sha, _ in refs], hidden)
            report.objects, report.bytes_freed = _remove_loose(
                repo, objects, now - grace_s, dry_run=dry_run
            )
            for sha, name in refs:
                run_id = name[len(REF_PREFIX) + 1 :].split("/", 1)[0]
                # A kept run's history holds this checkpoint. (A blob is shared by any
                # tree with the same content: that is no link between runs.)
                if sha in commits and sha in kept and run_id not in report.kept_linked:
                    report.kept_linked[run_id] = branches.get(run_id, [])
    return report


def _unreachable_from_rest(
    repo, tips: list[str], hidden_runs: list[str]
) -> tuple[list[str], set[str]]:
    """(objects reachable from ``tips`` and from nothing else git protects, the
    objects that stay reachable); the refs of ``hidden_runs`` count as deleted.

    A full walk of what stays reachable: ``rev-list A --not B`` only excludes what it
    meets walking A, and checkpoint chains share blobs without sharing history.
    """

    def walk(*args: str) -> set[str]:
        out = str(run_git(repo, "rev-list", "--objects", "--no-object-names", *args))
        return {line for line in out.splitlines() if line}

    hide = [f"--exclude={REF_PREFIX}/{run_id}/*" for run_id in hidden_runs]
    kept = walk(*hide, "--all", "--reflog", "--indexed-objects")
    return sorted(walk(*tips) - kept), kept


def _remove_loose(
    repo, objects: list[str], older_than: float, *, dry_run: bool = False
) -> tuple[int, int]:
    """Delete the loose ``objects`` older than ``older_than`` (only count them in a dry
    run); (how many, bytes)."""
    objdir = Path(
        str(run_git(repo, "rev-parse", "--path-format=absolute", "--git-path", "objects"))
    )
    count = size = 0
    for sha in objects:
        path = objdir / sha[:2] / sha[2:]
        try:
            st = path.stat()
            if st.st_mtime > older_than:
                continue
            if not dry_run:
                path.unlink()
        except FileNotFoundError:  # packed (left to git gc) or already gone
            continue
        count, size = count + 1, size + st.st_size
    return count, size
