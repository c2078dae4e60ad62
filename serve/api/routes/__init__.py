"""The API's routers; each is a thin layer over the ``model`` library and the services."""
