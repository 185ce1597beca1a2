"""The crawl side: Scrapy spiders and feed reading, from a source to a stored, tagged article.

Stages, one module each: ``spiders`` (one spider per crawl, polling every source of it: fetch, skip
stored articles, parse), ``feeds`` (feed bytes -> entries), ``ithome`` (ITHome page parsing),
``extract`` (article text from any page), ``normalize`` (URLs, language, text, time), ``middlewares``
(conditional GET, retry backoff), ``pipelines`` (normalize -> detect -> store, then each source's
state), ``runner`` (building, running and reporting a crawl), ``worker`` (a long-lived crawl worker
process: the service's crawls run there, one after another on one reactor).
"""
