"""(d) Bundle build on the FORGE for 1,000 and 10,000 published prompts.

Runs in its own process (Django is set up here, on a temporary data directory
with its own SQLite database). One project gets 100 prompt sets of 100
prompts; each set is versioned, reviewed, LOCKED and published through the
services. The first 10 sets are published, the bundle (1,000 prompts) is
timed; then the other 90, and the bundle (10,000 prompts) is timed again.

Every write goes through the services except, for sets 2–100, the prompt rows
and the review: ``create_prompt`` costs ~15–25 ms each (policy checks, audit
event, ORM) and the review check compiles every template again, so those rows
are inserted with ``bulk_create`` after validating each template shape and its
parameters with the services' own checks, and those sets are marked LOCKED
directly. Set 1 goes through the services all the way.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Row, emit, fmt_seconds, run_child, rows_from, verdict  # noqa: E402

SETS, PER_SET = 100, 100
TARGETS = {1000: 0.050, 10000: 0.500}


def setup_django(data_dir: str) -> None:
    os.environ["ANVIL_DATA_DIR"] = data_dir
    os.environ.pop("DATABASE_URL", None)  # the embedded SQLite database of that directory
    os.environ["DJANGO_SETTINGS_MODULE"] = "anvil_forge.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def create_data(sets_count: int = SETS):
    """A project with ``sets_count`` LOCKED prompt sets of PER_SET prompts each; returns (owner, project, sets)."""
    from django.db import transaction

    from anvil_forge.orgs.services import create_user
    from anvil_forge.orgs.models import Membership, Role
    from anvil_forge.orgs.services import create_organisation
    from anvil_forge.prompts import services as prompts
    from anvil_forge.prompts.models import Prompt, PromptSet, Status
    from anvil_forge.prompts.validation import check_parameters, check_template
    from fixtures import prompt_spec

    checked: dict[int, tuple[str, list]] = {}
    with transaction.atomic():  # one commit: the database's fsyncs are not what is measured
        owner = create_user("owner@bench.example")
        reviewer = create_user("reviewer@bench.example")
        org = create_organisation(owner, "Bench", "bench")
        Membership.objects.create(user=reviewer, organisation=org, role=Role.ADMIN)
        project = prompts.create_project(owner, org, "Bench", "bench")
        sets = []
        n = 0
        for s in range(sets_count):
            pset = prompts.create_prompt_set(owner, project, f"Set {s:03d}", f"set{s:03d}",
                                             metadata={"team": f"team-{s % 7}"})
            rows = []
            for p in range(PER_SET):
                template, parameters = prompt_spec(n)
                if s == 0:
                    prompts.create_prompt(owner, pset, f"Prompt {p:03d}", f"prompt{p:03d}", template, parameters,
                                          metadata={"n": n})
                else:
                    shape = n % 5
                    if shape not in checked:  # the shapes differ per prompt only by a number in the text
                        checked[shape] = (check_template(template), check_parameters(parameters))
                    rows.append(Prompt(prompt_set=pset, name=f"Prompt {p:03d}", slug=f"prompt{p:03d}",
                                       template=template, parameters=checked[shape][1], metadata={"n": n}))
                n += 1
            if rows:
                Prompt.objects.bulk_create(rows)
            version = prompts.create_version(owner, pset, "1.0.0", "first")
            if s == 0:
                prompts.change_status(owner, pset, "review")
                prompts.change_status(reviewer, pset, "locked")
            else:  # the review check compiles every template again: ~10k compiles, not what is measured
                PromptSet.objects.filter(pk=pset.pk).update(status=Status.LOCKED)
                prompts.approve_version(reviewer, version)  # what the skipped review would have approved
            sets.append(pset)
    return owner, project, sets


def time_build(project, repeats: int) -> tuple[list[float], dict]:
    from anvil_forge.distribution import bundles

    times, cpu, bundle = [], [], None
    for _ in range(repeats):
        bundles._build.cache_clear()
        start, start_cpu = time.perf_counter(), time.process_time()
        bundle = bundles.build_bundle(project)
        cpu.append(time.process_time() - start_cpu)
        times.append(time.perf_counter() - start)
    return times, cpu, bundle


def child() -> dict:
    from anvil_client import bundle as format

    with tempfile.TemporaryDirectory(prefix="anvil-bench-forge-") as data_dir:
        setup_django(data_dir)
        from django.db import transaction

        from anvil_forge.distribution import keys
        from anvil_forge.distribution.services import publish

        start = time.perf_counter()
        owner, project, sets = create_data()
        setup_seconds = time.perf_counter() - start
        rows = []
        published = 0
        for count, repeats in ((1000, 9), (10000, 5)):
            with transaction.atomic():
                for pset in sets[published:count // PER_SET]:
                    publish(owner, pset)
            published = count // PER_SET
            times, cpu, bundle = time_build(project, repeats)
            format.verify(bundle, keys.public_key(), project_id=str(project.pk))
            assert len(bundle["prompts"]) == count, len(bundle["prompts"])
            size = len(format.canonical(bundle))
            cpu_median = statistics.median(cpu)
            rows.append(Row(
                f"bundle build on the FORGE, {count:,} prompts ({count // PER_SET} sets)",
                f"{fmt_seconds(cpu_median)} CPU (wall: best {fmt_seconds(min(times))}, "
                f"median {fmt_seconds(statistics.median(times))})",
                f"< {fmt_seconds(TARGETS[count])}", verdict(cpu_median < TARGETS[count]),
                [f"median of {repeats} builds of build_bundle(project), its cache cleared each time; SQLite; "
                 f"{size / 1e6:.1f} MB canonical JSON, checksummed and signed"],
                {"times": times, "cpu": cpu},
            ).to_json())
        return {"rows": rows, "setup_seconds": setup_seconds}


def run() -> list[Row]:
    result = run_child("bench_bundle_build")
    rows = rows_from(result)
    rows[0].notes.append(f"data set up through the services in {result['setup_seconds']:.1f} s (not measured)")
    return rows


if __name__ == "__main__":
    if "--child" in sys.argv:
        emit(child())
    else:
        for row in run():
            print(row)
