"""The roles of ``newswatch run``, one module each; ``newswatch.service`` wires them.

- ``scheduler``: decides which hosts are due and hands them to a queue (in-process, or the job queue).
- ``crawler``: takes hosts from the job queue and polls them on this machine's crawl workers.
- ``delivery``: the bot, the outbox, alerts; one per store (the instance lease), as Telegram's limits
  are per bot.

``--role all`` runs the scheduler, the crawl workers and delivery in one process with no job queue.
"""
