"""WSGI entry point for gunicorn: `gunicorn -w 4 dashboard.wsgi:server` (settings from the environment)."""

from dashboard.app import create_app

server = create_app(warm_new_versions=True).server
