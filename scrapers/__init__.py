"""The crawl side: Scrapy spiders and feed reading, from a source to a stored, tagged article.

Stages, one module each: ``spiders`` (fetch and parse), ``feeds`` (feed bytes -> entries),
``ithome`` (ITHome page parsing), ``extract`` (article text from any page), ``normalize`` (URLs,
language, text, time), ``middlewares`` (conditional GET, skipping known articles, retry backoff),
``pipelines`` (normalize -> detect -> store), ``runner`` (running crawls for the CLI and the service).
"""
