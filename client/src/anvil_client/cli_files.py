"""``anvil-client pull | diff | push | lint | test``: a project's prompts as files (docs/prompts-as-code.md).

Exit codes: 0 done (no differences, nothing refused, every test passed); 1 the answer is "no" (a diff
found differences, a push was refused or stopped by lint, a lint error, a failing test); 2 the command
could not run (a setting missing, a file unreadable, the FORGE unreachable or refusing the key).
Results go to stdout, progress lines (``[3/12] support: 4 prompts``) to stderr.

The modules doing the work are imported by the commands that need them: ``anvil-client render`` does
not pay for YAML, lint or the REST client.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AnvilClientError

if TYPE_CHECKING:
    from .forge_api import ForgeAPI
    from .testcases import CaseResult
    from .workspace import Plan, SetPlan, Workspace

OK, NO, ERROR = 0, 1, 2

Command = Callable[[argparse.Namespace], int]


def connect(forge_url: str | None, api_key: str | None, timeout: float) -> ForgeAPI:
    """The FORGE client the commands use (tests replace it with one over a fake FORGE)."""
    from .forge_api import ForgeAPI

    return ForgeAPI(forge_url, api_key, timeout=timeout)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _errors_exit_2(command: Command) -> Command:
    @wraps(command)
    def run(args: argparse.Namespace) -> int:
        from .workspace import FilesError

        try:
            return command(args)
        except FilesError as exc:
            print(exc.message, file=sys.stderr)
            print(f"anvil-client: {_plural(len(exc.errors), 'file error')}", file=sys.stderr)
            return ERROR
        except AnvilClientError as exc:  # FileFormatError's str is "file:line:column: message"
            print(f"anvil-client: {exc}", file=sys.stderr)
            return ERROR
    return run


def _workspace(args: argparse.Namespace) -> tuple[Workspace, ForgeAPI]:
    from .workspace import Workspace, need_project, resolve_settings

    root = Path(args.dir)
    settings = resolve_settings(root, forge_url=args.forge_url, project=args.project, api_key=args.api_key)
    project = need_project(settings)
    api = connect(settings.forge_url, settings.api_key, args.timeout)
    return Workspace(root, api, project, progress=_progress), api


# --- pull ----------------------------------------------------------------------------------------


@_errors_exit_2
def cmd_pull(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    workspace, api = _workspace(args)
    with api:
        result = workspace.pull(args.sets, version=args.version, prune=args.prune, force=args.force)
    print(f"Pulled {_plural(len(result.pulled), 'set')}" + (f" at version {args.version}" if args.version else "")
          + f" into {root} from {api.forge_url}, project {workspace.project}.")
    for slug, why in result.kept.items():
        print(f"{slug}: not pulled: {why}")
    for slug in result.gone:
        print(f"{slug}: no longer on the FORGE: " + ("its files were removed (--prune)" if slug in result.pruned
                                                      else "its folder is left alone (pull --prune removes it)"))
    return NO if result.kept else OK


# --- diff ----------------------------------------------------------------------------------------


@_errors_exit_2
def cmd_diff(args: argparse.Namespace) -> int:
    workspace, api = _workspace(args)
    with api:
        diffs = workspace.diff(args.sets)
    different = False
    for item in diffs:
        if item.note:
            print(item.note)
        if item.text:
            sys.stdout.write(item.text)
        different = different or bool(item.note or item.text)
    if not different:
        print("No differences.", file=sys.stderr)
    return NO if different else OK


# --- push ----------------------------------------------------------------------------------------


def _print_plan(plan: Plan) -> None:
    for item in plan.sets:
        for line in item.lines():
            print(line)
        if item.action == "conflict" and item.diff:
            sys.stdout.write(item.diff)


def _lint_errors(root: Path, sets: list[str]) -> int:
    """Lint before a push: prints the errors of the sets to push (warnings do not stop a push); returns how
    many."""
    from . import project_files
    from .lint import lint_files

    folders = tuple(f"{slug}/" for slug in sets)
    errors = [problem for problem in lint_files(project_files.read_project(root))
              if problem.severity == "error" and (not folders or problem.file.startswith(folders))]
    for problem in errors:
        print(problem)
    return len(errors)


@_errors_exit_2
def cmd_push(args: argparse.Namespace) -> int:
    workspace, api = _workspace(args)
    errors = _lint_errors(workspace.root, args.sets)
    if errors:
        print(f"Push stopped: lint found {errors} error{'s' if errors != 1 else ''} (anvil-client lint).")
        return NO
    with api:
        plan = workspace.plan(args.sets, restore=args.restore)
        if not plan.to_apply and not plan.refused:
            if not args.dry_run:
                workspace.apply(plan)  # records the unchanged sets' tags as bases
            print(f"Nothing to push: {_count(plan.sets)} as on the FORGE.")
            return OK
        _print_plan(plan)
        if args.dry_run:
            print(f"Dry run: nothing was pushed ({_count(plan.to_apply)} would be"
                  + (f", {_count(plan.refused)} refused" if plan.refused else "") + ").")
            return NO if plan.refused else OK
        outcomes = workspace.apply(plan)
    failed = [o for o in outcomes if not o.applied]
    for outcome in outcomes:
        print(outcome.message)
        if outcome.diff:
            sys.stdout.write(outcome.diff)
    pushed = len(outcomes) - len(failed)
    refused = len(failed) + len(plan.refused)
    print(f"Pushed {_count(pushed)}" + (f"; {_count(refused)} not pushed." if refused else "."))
    return NO if refused else OK


def _count(items: list[SetPlan] | int) -> str:
    number = items if isinstance(items, int) else len(items)
    return f"{number} set{'s' if number != 1 else ''}"


# --- lint and test (offline) ---------------------------------------------------------------------


@_errors_exit_2
def cmd_lint(args: argparse.Namespace) -> int:
    from . import project_files
    from .lint import fails, lint_files

    problems = lint_files(project_files.read_project(_folder(args)))
    for problem in problems:
        print(problem)
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    print(f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}." if problems else "No problems found.",
          file=sys.stderr)
    return NO if fails(problems, strict=args.strict) else OK


def _report(prompt_id: str, results: list[CaseResult]) -> None:
    failed = [r for r in results if not r.passed]
    if not failed:
        print(f"PASS {prompt_id} ({_plural(len(results), 'test')})", flush=True)
        return
    print(f"FAIL {prompt_id} ({len(failed)} of {_plural(len(results), 'test')} failed)")
    for result in failed:
        reasons = result.failures or ["failed"]
        print(f"  {result.name}: {reasons[0]}")
        for reason in reasons[1:]:
            print(f"  {' ' * len(result.name)}  {reason}")
    sys.stdout.flush()


@_errors_exit_2
def cmd_test(args: argparse.Namespace) -> int:
    from . import project_files
    from .junit import junit_xml
    from .project_tests import run_project_tests
    from .workspace import FilesError

    root = _folder(args)
    files = project_files.read_project(root)
    errors = [e for e in files.errors if e.file != project_files.SETTINGS_FILE]
    if errors:
        raise FilesError(errors)
    known = set(files.documents) | {f"{s}.{p['slug']}" for s, d in files.documents.items()
                                    for p in d.get("prompts") or []}
    unknown = [name for name in args.prompts if name not in known]
    if unknown:
        raise AnvilClientError(f"no prompt or set {', '.join(map(repr, unknown))} in {root} "
                               f"(name a set, 'support', or a prompt, 'support.reply')")
    run = run_project_tests(files.documents, update_snapshots=args.update_snapshots,
                            only=set(args.prompts) or None, progress=_report)
    if args.junit:
        Path(args.junit).parent.mkdir(parents=True, exist_ok=True)
        Path(args.junit).write_text(junit_xml(run.results), encoding="utf-8")
    for document in run.updated.values():
        for path in project_files.write_set(root, document):
            print(f"Updated snapshots in {path}")
    totals = run.summary()
    if not totals["total"]:
        print("No tests found" + (f" for {', '.join(args.prompts)}" if args.prompts else "") + ".")
        return OK
    print(f"{_plural(totals['total'], 'test')} in {_plural(totals['prompts'], 'prompt')}: "
          f"{totals['passed']} passed, {totals['failed']} failed.")
    for name in totals["failing"]:
        print(f"FAILED {name}")
    return OK if run.passed else NO


def _folder(args: argparse.Namespace) -> Path:
    root = Path(args.dir)
    if not root.is_dir():
        raise AnvilClientError(f"{root} is not a folder (--dir names the project folder)")
    return root


def _plural(number: int, word: str) -> str:
    return f"{number} {word}{'s' if number != 1 else ''}"


# --- the parser ----------------------------------------------------------------------------------


def add_commands(sub: Any) -> None:
    """Register the commands on ``anvil-client``'s subparsers."""
    local = argparse.ArgumentParser(add_help=False)
    local.add_argument("--dir", default=".", help="the project folder, holding anvil.yaml (default: .)")
    remote = argparse.ArgumentParser(add_help=False, parents=[local])
    remote.add_argument("--forge-url", help="the FORGE's address (ANVIL_FORGE_URL, or anvil.yaml's forge)")
    remote.add_argument("--project", help="the project id (ANVIL_PROJECT, or anvil.yaml's project)")
    remote.add_argument("--api-key", help="an API key: read scope to pull and diff, write to push (ANVIL_API_KEY; "
                                          "never stored in files)")
    remote.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the FORGE (default 30)")

    p = sub.add_parser("pull", parents=[remote], help="write the FORGE's prompt sets as files",
                       description="Write every prompt set of the project (or the sets named) into its folder, "
                                   "and anvil.yaml. Files holding changes never pushed are kept unless --force.")
    p.add_argument("sets", nargs="*", metavar="SET", help="only these sets (by slug)")
    p.add_argument("--version", metavar="LABEL", help="that version's content instead of the working copy "
                                                      "(name the sets); push refuses it unless --restore")
    p.add_argument("--prune", action="store_true", help="remove the folders of sets the FORGE no longer has")
    p.add_argument("--force", action="store_true", help="overwrite files holding changes not pushed")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("diff", parents=[remote], help="what differs between the FORGE and the files",
                       description="A unified diff from the FORGE's working copy (---) to the files (+++). "
                                   "Exit 0: no differences, 1: differences, 2: error.")
    p.add_argument("sets", nargs="*", metavar="SET")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("push", parents=[remote], help="send the files' changes to the FORGE",
                       description="Lint, then replace each changed set's working copy on the FORGE, if nobody "
                                   "changed it there since the last pull or push. REVIEW and LOCKED sets are "
                                   "never pushed.")
    p.add_argument("sets", nargs="*", metavar="SET")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--restore", action="store_true",
                   help="push sets pulled with --version too (their content becomes the working copy)")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("lint", parents=[local], help="check the files offline",
                       description="Template syntax, undeclared and unused parameters, partials, dependency "
                                   "specifiers, model configuration and test definitions, as "
                                   "file:line:column: severity: message. Exit 1 on errors (or warnings, --strict).")
    p.add_argument("--strict", action="store_true", help="warnings fail too")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("test", parents=[local], help="run the prompts' tests offline",
                       description="Render every prompt that has tests with their variables and check the "
                                   "assertions (nothing calls a model; partials come from the folder). "
                                   "Exit 1 if a test fails, 2 if the files cannot be read.")
    p.add_argument("prompts", nargs="*", metavar="PROMPT", help="only these sets or prompts (support, support.reply)")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report (for CI)")
    p.add_argument("--update-snapshots", action="store_true",
                   help="record the current renderings as the snapshot tests' expectations, in the files")
    p.set_defaults(func=cmd_test)
