"""Who wants a story: the subscriber's regions, providers and keywords. Pure."""

from __future__ import annotations

from functools import lru_cache

from newswatch.detect.keywords import KeywordMatcher
from newswatch.detect.text import normalize
from newswatch.storage.stories import Story
from newswatch.storage.subscribers import Subscriber


def story_text(story: Story) -> str:
    """What subscribers' keywords are matched against: every outlet's title and the summary."""
    titles = " \n".join(o.get("title", "") for o in story.outlets)
    return normalize(f"{story.title}\n{titles}\n{story.summary}")


def wants(subscriber: Subscriber, story: Story, text: str) -> bool:
    """On-topic stories that pass the region and provider choices (empty = all), and any story one
    of the subscriber's keywords matches."""
    if subscriber.keywords and _matcher(subscriber.keywords).find(text):
        return True
    if not story.alertable:
        return False
    tags = story.tags
    if subscriber.regions and tags.regions and not set(subscriber.regions) & set(tags.regions):
        return False
    return not (
        subscriber.providers and tags.providers and not set(subscriber.providers) & set(tags.providers)
    )


@lru_cache(maxsize=4096)
def _matcher(keywords: tuple[str, ...]) -> KeywordMatcher:
    return KeywordMatcher(keywords)
