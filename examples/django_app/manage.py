#!/usr/bin/env python
"""Django's command-line utility for this example project.

``manage.py runserver`` cannot serve WebSockets: its server does not hand
over connections, so an upgrade gets a 501 that says so. Use ``serve.py``
or gunicorn (see ``project/wsgi.py``).
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
