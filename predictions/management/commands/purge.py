import json

from django.core.management.base import BaseCommand, CommandParser

from predictions import retention


class Command(BaseCommand):
    help = (
        "Delete what is past its retention period (RETAIN_BATCH_JOBS_DAYS, "
        "RETAIN_BATCH_INPUTS_DAYS, RETAIN_PREDICTIONS_DAYS; orphan files after "
        "RETAIN_ORPHAN_GRACE_HOURS): rows first, then the files no row names any more. "
        "With --dry-run, print what it would delete and delete nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="count rows, files and bytes; delete nothing"
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the counts as JSON"
        )

    def handle(self, *args, dry_run: bool, as_json: bool, **options) -> None:
        report = retention.purge(dry_run=dry_run)
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
            return
        self.stdout.write(f"retention: {retention.periods()}")
        if dry_run:
            self.stdout.write("dry run: nothing is deleted")
        for line in report.lines():
            self.stdout.write(line)
