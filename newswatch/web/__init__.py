"""The web side of ``newswatch run``: the tracker page, JSON APIs, the Atom feed, metrics and health.

``app`` (routes and the server), ``views`` (store reads for them), ``matrix`` and ``chart`` (pure
rendering of the tracker), ``feed`` (Atom), ``health`` (``/healthz`` checks); ``templates/`` and
``static/`` hold the page and its stylesheet, nothing fetched from elsewhere.
"""
