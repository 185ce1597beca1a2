"""The Telegram side: subscribers' commands, alert rendering, and paced, exactly-once delivery.

Modules: ``render`` (alert HTML, pure), ``choices`` (who wants which story, pure), ``keyboards``
(inline menus, pure), ``pacing`` (Telegram's rate limits), ``senders`` (Telegram or console),
``delivery`` (outbox fan-out and sending), ``handlers`` (commands), ``app`` (the Application),
``i18n`` (the bot's words in the chat's language: gettext catalogs in ``locale/``).
"""
