"""Is an article about an AI service restricted (or restored) in a country or region, and its tags.

The rule, in the words of the topic: an AI service (a service, an AI company, or a general company
with an AI word beside it) x a region (not merely the provider's origin) x a restriction or its
lifting. The three must meet in one sentence, where the title's subject and region carry into the
body ("The company will stop serving users there"). Look-alike cues (outages, datacenter regions,
chip exports, staff-only bans, fines, end of support) in the title or the deciding sentence lower the
score. The title decides the tags when it carries them: that is where outlets put the event, while
bodies wander into background ("... was also blocked in Italy in 2023").
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from ..models import Detection, Tags
from .keywords import KeywordMatcher
from .text import normalize, sentence_spans
from .vocabulary import Match, Vocabulary

THRESHOLD = 0.5
RESTRICTIVE = frozenset({"block", "ban", "suspend", "discontinue", "restrict"})
_STRONG = frozenset({"block", "ban", "suspend"})
# A region word that names where a company comes from, not where a restriction applies.
_ORIGIN_AFTER_RE = re.compile(
    r"^(?:'s)?[\s-]*(?:(?:generative |gen)?ai[\s-]+)?"
    r"(?:based|made|built|startup|start-up|company|companies|firm|rival|developer|lab|giant|tech giant|"
    r"chatbots?|models?|assistants?|owner|parent|apps?(?! stores?)|"
    r"ai(?= (?:apps?|models?|chatbots?|startups?|compan|firms?|labs?|assistants?|tools?|services?)))\b"
)
_ORIGIN_AFTER_ZH_RE = re.compile(
    r"^\s*(?:的)?\s*(?:ai|人工智能|科技)?\s*(?:初创|公司|企业|厂商|大模型|模型|独角兽|本土|应用|聊天机器人|app)"
    r"|^\s*ai(?:\s|$|助手|产品|工具)"
)
_WEAK_REGION_ALIASES = frozenset({"国内", "境内", "本土"})  # "in the country": whichever country is named
# "subsidiaries registered in Singapore": where the restricted companies' branches are, not the region
_SUBSIDIARY_BEFORE_RE = re.compile(r"(?:subsidiar\w*|registered|子公司|注册)[^.。,，]{0,25}$")
_PRECEDENT_BEFORE_RE = re.compile(r"(?:follows|following|after|joins|joining|like|继)\s*$")
_ORIGIN_BEFORE_ZH = ("国产",)


@dataclass
class _Sentence:
    title: bool
    start: int = 0
    end: int = 0
    services: set[str] = field(default_factory=set)
    providers: set[str] = field(default_factory=set)  # AI providers named here (qualified)
    general: list[tuple[str, int]] = field(default_factory=list)  # (company, end) waiting for an AI word
    ai_at: list[int] = field(default_factory=list)  # where AI words start
    regions: set[str] = field(default_factory=set)
    precedents: set[str] = field(default_factory=set)
    places: set[str] = field(default_factory=set)
    weak_regions: set[str] = field(default_factory=set)  # "follows Indonesia": somebody else's restriction
    actions: set[str] = field(default_factory=set)
    cues: set[str] = field(default_factory=set)

    @property
    def subject(self) -> bool:
        return bool(self.services or self.providers)


@dataclass(frozen=True)
class _ArrivalContext:
    """When "launches in" / "登陆" means a restriction lifted: the service had been withheld there."""

    withheld: bool
    title_arrival: bool
    restricted_regions: set[str]
    title_lift: bool

    def is_lift(self, sentence: _Sentence) -> bool:
        if "arrival" not in sentence.cues:
            return False
        if sentence.actions & RESTRICTIVE:  # "launches in China without Apple Intelligence"
            return "withheld" in sentence.cues
        return bool(
            self.withheld
            or self.title_arrival
            or self.title_lift
            or sentence.regions & self.restricted_regions
        )


class Classifier:
    """Relevance, score and tags for one article; the vocabulary and watch lists are fixed at start."""

    def __init__(
        self, vocab: Vocabulary, watch: KeywordMatcher | None = None, exclude: KeywordMatcher | None = None
    ):
        self.vocab = vocab
        self.watch = watch or KeywordMatcher(())
        self.exclude = exclude or KeywordMatcher(())

    def classify(self, title: str, text: str = "") -> Detection:
        norm_title = normalize(title)
        norm_body = normalize(text, keep_newlines=True)
        full = f"{norm_title}\n{norm_body}"
        if self.exclude and self.exclude.find(full):
            return Detection(relevant=False, score=0.0)
        watched = self.watch.find(full) if self.watch else ()
        sentences = self._sentences(full, len(norm_title))
        score, tags, places = self._decide(sentences)
        if score < THRESHOLD:
            return Detection(relevant=False, score=round(score, 3), watched=watched)
        return Detection(relevant=True, score=round(score, 3), tags=tags, watched=watched, places=places)

    # --- evidence per sentence -------------------------------------------------------------------

    def _sentences(self, full: str, title_len: int) -> list[_Sentence]:
        sentences = [_Sentence(title=True, start=0, end=title_len)]
        for start, end in sentence_spans(full[title_len + 1 :]):
            sentences.append(_Sentence(title=False, start=title_len + 1 + start, end=title_len + 1 + end))
        starts = [s.start for s in sentences]
        for match in self.vocab.scan(full):
            sentence = sentences[max(bisect.bisect_right(starts, match.start) - 1, 0)]
            self._add(sentence, match, full)
        for sentence in sentences:
            self._qualify(sentence)
        return sentences

    def _add(self, sentence: _Sentence, match: Match, full: str) -> None:
        term = match.term
        if term.category == "service":
            sentence.services.add(term.value)
        elif term.category == "provider":
            if self.vocab.provider_is_ai.get(term.value):
                sentence.providers.add(term.value)
            else:
                sentence.general.append((term.value, match.end))
        elif term.category == "region":
            _add_region(sentence, match, full)
        elif term.category == "place":
            sentence.places.add(term.value)
        elif term.category == "action":
            sentence.actions.add(term.value)
        elif term.category == "cue":
            sentence.cues.add(term.value)
            if term.value == "ai":
                sentence.ai_at.append(match.start)

    def _qualify(self, sentence: _Sentence) -> None:
        """Services imply their providers; a general company counts when one of its own services is
        named in the sentence or an AI word follows it closely ("Google's AI chatbot", "谷歌 AI")."""
        if not sentence.regions:
            sentence.regions = sentence.weak_regions
        for service in sentence.services:
            sentence.providers.update(self.vocab.service_providers.get(service, ()))
        for company, end in sentence.general:
            if company in sentence.providers:
                continue
            if any(0 <= start - end <= 25 for start in sentence.ai_at):
                sentence.providers.add(company)

    # --- the decision ----------------------------------------------------------------------------

    def _decide(self, sentences: list[_Sentence]) -> tuple[float, Tags, tuple[str, ...]]:
        title = sentences[0]
        self._home_market(sentences)
        context = _ArrivalContext(
            withheld=any("withheld" in s.cues for s in sentences[:4]),
            # "X now available in Europe": in this topic's news a launch named in the title with a
            # region is almost always one that had been held back (global launches are cued apart)
            title_arrival="arrival" in title.cues
            and bool(title.regions)
            and "global" not in title.cues
            and not title.actions & RESTRICTIVE,
            restricted_regions=set().union(*(s.regions for s in sentences if s.actions & RESTRICTIVE)),
            title_lift="lift" in title.actions,
        )
        best: tuple[float, _Sentence, set[str]] | None = None
        for sentence in sentences[:40]:
            actions = set(sentence.actions)
            if context.is_lift(sentence):
                actions.add("lift")
            if not actions:
                continue
            has_subject = sentence.subject or title.subject
            regions = sentence.regions or title.regions
            if not (has_subject and regions):
                continue
            strength = 1.0 if sentence.title else 0.9
            if not sentence.subject:
                strength -= 0.15
            if not sentence.regions:
                strength -= 0.15
            if best is None or strength > best[0]:
                best = (strength, sentence, actions)
            if strength >= 0.9:
                break
        if best is None:
            return 0.0, Tags(), ()
        strength, event, actions = best
        score = strength - _lookalike_penalty(title, event, actions)
        places = tuple(sorted(title.places | event.places))
        return max(0.0, min(1.0, score)), self._tags(sentences, event, actions), places

    def _home_market(self, sentences: list[_Sentence]) -> None:
        """A service opened to the public at home once the regulator approved it ("文心一言通过备案，
        向全社会开放") names no region: the region is the provider's home market."""
        title, opening = sentences[0], sentences[:4]
        if any(s.regions for s in opening) or "lift" not in title.actions:
            return
        if not any("approval" in s.cues for s in opening):
            return
        homes = {self.vocab.provider_home.get(p) for p in title.providers}
        if len(homes) == 1 and None not in homes:
            title.regions = set(homes)  # type: ignore[arg-type]

    def _tags(self, sentences: list[_Sentence], event: _Sentence, actions: set[str]) -> Tags:
        title = sentences[0]
        who = title if title.subject else event
        providers, services = set(who.providers), set(who.services)
        if who is title and event.subject:
            # the deciding sentence may name the service the title only hints at ("OpenAI" -> "API")
            services |= {
                s for s in event.services if set(self.vocab.service_providers.get(s, ())) & providers
            }
        for sentence in sentences[1:4]:
            # providers listed beside the title's ("Apple, with partner Alibaba, ...")
            if sentence.providers & providers and sentence.actions and "precedent" not in sentence.cues:
                providers |= sentence.providers
                services |= sentence.services
        homes = {self.vocab.provider_home.get(p) for p in providers}
        regions = _regions(sentences, event, homes)
        chosen = {"lift"} if "lift" in actions else title.actions & RESTRICTIVE or actions & RESTRICTIVE
        return Tags(
            providers=tuple(sorted(providers)),
            services=tuple(sorted(services)),
            regions=tuple(sorted(regions)),
            actions=tuple(sorted(chosen)),
        )


def _regions(sentences: list[_Sentence], event: _Sentence, homes: set[str | None]) -> set[str]:
    """Where: the title's regions (or the deciding sentence's), plus regions listed beside them in
    the opening sentences ("China and Hong Kong") unless that is the provider's home (DeepSeek's
    "Chinese") or a precedent ("after Italy and Taiwan")."""
    anchor = sentences[0].regions or event.regions
    regions = set(anchor)
    member_state = any(r in _EU_MEMBERS for r in anchor)
    for sentence in sentences[1:4]:
        if "precedent" in sentence.cues:
            continue
        if (
            sentence.regions & anchor and (sentence.actions or sentence.subject)
        ) or "extends" in sentence.cues:
            regions |= (
                sentence.regions
                - homes
                - ({"EU"} if member_state else _EU_MEMBERS if "EU" in anchor else set())
            )
    return regions


# A restriction by one member state cites "EU rules" without being the EU's own.
_EU_MEMBERS = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)


_OWNERSHIP_ALIASES = ("资", "控股", "owned", "controlled")  # "中资控股企业": whose capital, not where made


def _add_region(sentence: _Sentence, match: Match, full: str) -> None:
    """Sort a region mention: where a company comes from or has branches (dropped), somebody else's
    precedent ("after Italy"), a vague "in the country" (used only when nothing better), or a region."""
    before = full[max(sentence.start, match.start - 40) : match.start]
    if _is_origin(full, match) or _SUBSIDIARY_BEFORE_RE.search(before):
        return
    if _PRECEDENT_BEFORE_RE.search(before[-14:]):
        sentence.precedents.add(match.term.value)
    elif full[match.start : match.end] in _WEAK_REGION_ALIASES:
        sentence.weak_regions.add(match.term.value)
    else:
        sentence.regions.add(match.term.value)


def _is_origin(full: str, match: Match) -> bool:
    alias = full[match.start : match.end]
    if any(marker in alias for marker in _OWNERSHIP_ALIASES):
        return False
    after = full[match.end : match.end + 40]
    if full[match.start].isascii():
        return bool(_ORIGIN_AFTER_RE.match(after))
    before = full[max(0, match.start - 2) : match.start]
    return bool(_ORIGIN_AFTER_ZH_RE.match(after)) or before in _ORIGIN_BEFORE_ZH


def _lookalike_penalty(title: _Sentence, event: _Sentence, actions: set[str]) -> float:
    """How strongly the cues say this is one of the look-alikes rather than the topic."""
    cues_title, cues_event = title.cues, event.cues
    both = cues_title | cues_event
    penalty = 0.0
    if "outage" in cues_title or "datacenter" in cues_title:
        penalty += 0.7
    elif "outage" in cues_event or "datacenter" in cues_event:
        penalty += 0.4
    if "export" in cues_title and not title.services:
        penalty += 0.6
    elif "export" in cues_event and not event.services:
        penalty += 0.35
    if "staff" in both and "government" not in both:
        penalty += 0.6
    if "fine" in cues_title and not (title.actions & _STRONG):
        penalty += 0.5
    if "end_of_support" in cues_title and not title.services:
        penalty += 0.5
    if "account" in cues_title or ("account" in cues_event and not event.regions):
        penalty += 0.6  # bans of abusive accounts, not of a country's users
    if "global" in cues_title and not (title.actions & RESTRICTIVE):
        penalty += 0.5
    if ("lawsuit" in cues_title or "investigation" in cues_title) and not (title.actions & RESTRICTIVE):
        penalty += 0.5
    if cues_title & {"proposal", "data_use"}:
        penalty += 0.5  # a bill that would ban, a suspension of data use for training: not a block
    if "pricing" in cues_title and "lift" in actions:
        penalty += 0.6  # a paid tier launching somewhere is not a restriction lifted
    if actions <= {"restrict"} and "launch" in cues_title and not (title.actions & RESTRICTIVE):
        penalty += 0.2  # a launch story that mentions availability in passing
    return penalty
