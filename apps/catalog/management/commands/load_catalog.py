from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.catalog.services import catalog_load


class Command(BaseCommand):
    help = "Load the catalogue's template files (catalog/*.yaml): new templates, and a new version for each change."

    def add_arguments(self, parser):
        parser.add_argument("folder", nargs="?", default=str(Path(settings.BASE_DIR) / "catalog"))
        parser.add_argument("--strict", action="store_true", help="Exit with an error if any file is refused.")

    def handle(self, folder, strict, **options):
        path = Path(folder)
        if not path.is_dir():
            raise CommandError(f"No such folder: {path}")
        results = catalog_load(folder=path)
        for result in results:
            if result.errors:
                self.stderr.write(self.style.ERROR(f"refused {result}"))
            else:
                self.stdout.write(str(result))
        refused = [r for r in results if r.errors]
        if refused:
            message = f"{len(refused)} template file(s) refused; their live versions stay."
            if strict:
                raise CommandError(message)
            self.stderr.write(message)
