"""WSGI entry point: Django's WSGI application with WebSockets added.

Serve it with wsocket's own server (``python serve.py``) or with gunicorn,
from this directory::

    gunicorn -k gevent project.wsgi:application
"""

import os

from django.core.wsgi import get_wsgi_application

from wsocket import WebSocketMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

application = WebSocketMiddleware(get_wsgi_application())
