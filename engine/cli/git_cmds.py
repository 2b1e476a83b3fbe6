"""Git at the end, never behind your back: commit, gc, pin."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser(
        "commit",
        help="commit a completed run's change (Co-authored-by: the model)",
        description="Commit the files RUN changed, with your git identity, the run summary "
        "as message and a Co-authored-by trailer naming the model. Other work stays "
        "uncommitted.",
    )
    p.add_argument("run_id", metavar="RUN", nargs="?", help="run id (default: the last run)")
    p.add_argument("--branch", metavar="NAME", help="commit on a new branch NAME")
    p.set_defaults(func=cmd_commit)

    p = sub.add_parser(
        "gc",
        help="forget old finished runs and free their checkpoint objects",
        description="Collect finished runs beyond the newest --keep-last (and older than "
        "--older-than days), except pinned ones: their history and checkpoint refs are "
        "removed, and git objects nothing else uses are deleted.",
    )
    p.add_argument("--keep-last", type=int, default=20, metavar="N", help="keep N newest runs")
    p.add_argument("--older-than", type=float, metavar="DAYS", help="only runs older than DAYS")
    p.add_argument("--dry-run", action="store_true", help="say what would go; change nothing")
    p.add_argument(
        "--grace-seconds",
        type=float,
        default=3600.0,
        help="keep git objects written more recently than this (another process may reuse "
        "them; default 3600)",
    )
    p.set_defaults(func=cmd_gc)

    p = sub.add_parser("pin", help="keep a run from gc (--remove to unpin)")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--remove", action="store_true", help="unpin")
    p.set_defaults(func=cmd_pin)


def _session(args, write: bool = True):
    from engine.run.session import Session

    return Session.open(args.cwd, write=write)


def cmd_commit(args) -> int:
    from engine.cli.run_cmds import last_run_id
    from engine.git.commit import commit_run

    with _session(args) as session:
        done = commit_run(session, args.run_id or last_run_id(session), branch=args.branch)
    if args.json:
        print(json.dumps({"sha": done.sha, "branch": done.branch, "paths": done.paths}))
        return 0
    print(
        f"committed {done.sha[:12]} on {done.branch or 'detached HEAD'}: {len(done.paths)} file(s)"
    )
    print(done.message.splitlines()[0])
    return 0


def cmd_gc(args) -> int:
    from engine.run.gc import collect

    with _session(args) as session:
        r = collect(
            session,
            keep_last=args.keep_last,
            older_than_days=args.older_than,
            dry_run=args.dry_run,
            grace_s=args.grace_seconds,
        )
    if args.json:
        print(json.dumps(r.__dict__))
        return 0
    verb, freed = ("would collect", "would free") if r.dry_run else ("collected", "freed")
    print(
        f"{verb} {len(r.runs)} run(s), {r.refs} checkpoint ref(s); "
        f"{freed} {_size(r.bytes_freed)} ({r.objects} git objects)"
    )
    if r.kept_pinned:
        print(f"kept pinned: {', '.join(r.kept_pinned)}")
    for run_id, keepers in r.kept_linked.items():
        why = (
            f"they are in the git history of kept run(s) {', '.join(keepers)}, which branch from it"
            if keepers
            else "another git ref still reaches them"
        )
        forgotten = "would be forgotten" if r.dry_run else "forgotten"
        print(f"run {run_id}: {forgotten}, but its checkpoint objects stay: {why}")
    return 0


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def cmd_pin(args) -> int:
    from engine.run.gc import pin

    with _session(args) as session:
        pin(session, args.run_id, not args.remove)
    print(f"{'unpinned' if args.remove else 'pinned'} {args.run_id}")
    return 0
