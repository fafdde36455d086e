"""The voc HTTP service: `create_app(settings)` in api.main builds it."""
