"""Is an article about an AI service restricted (or restored) in a country or region, and its tags.

The rule, in the words of the topic: an AI service (a service, an AI company, or a general company
with an AI word beside it) x a region (not merely the provider's origin) x a restriction or its
lifting. The three must meet in one sentence, where the title's subject and region carry into the
body ("The company will stop serving users there"). Look-alike cues (outages, datacenter regions,
chip exports, staff-only bans, fines, how-tos, threat reports, resellers, task forces) in the title or
the deciding sentence lower the score.

Outlets put the event in the headline and the first paragraph (the *lead*); later paragraphs are
background that names older events ("OpenAI stopped its API in the mainland in July"). So the event
must be found in the lead, and a later sentence only counts when the headline itself reports a
restriction and the body merely says where. Tags, audience (``audience``) and the effective date
(``dates``) come from the lead too.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from ..models import Detection, Tags
from .audience import Mention, audience
from .dates import DateMention, mentions
from .keywords import KeywordMatcher
from .text import normalize, sentence_spans
from .vocabulary import Match, Vocabulary

THRESHOLD = 0.5
# Characters of the body that detection reads: first the opening (the lead and a little more), then,
# only when the headline reports a restriction the opening does not place, the paragraphs after it.
# Later background only adds noise (older events) and time; watched and excluded keywords still look
# at the whole text.
OPENING_CHARS = 1_000
DETECT_BODY_CHARS = 2_000
LEAD_SENTENCES = 5  # at most this many body sentences of the first paragraph(s) make the lead
BACKGROUND_STRENGTH = 0.75  # a later sentence completing the headline's event
LEAD_PLACE_STRENGTH = 0.8  # the headline's event, placed by a region in the lead
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
# "subsidiaries registered in Singapore": where the restricted companies' branches are, not the region
_SUBSIDIARY_BEFORE_RE = re.compile(r"(?:subsidiar\w*|registered|子公司|注册)[^.。,，]{0,25}$")
_PRECEDENT_BEFORE_RE = re.compile(r"(?:follows|following|after|joins|joining|like|继)\s*$")
_ORIGIN_BEFORE_ZH = ("国产",)
_NEWLINE_RE = re.compile("\n")
# A lift still to come once a condition is met ("将在整改后恢复", "until it resumes"): the news is the
# restriction.
_PENDING_LIFT_BEFORE_RE = re.compile(
    r"(?:将在|将于|才会?|待|直至|直到|until|before it can|only after)[^。，,]{0,12}$"
)


@dataclass
class _Sentence:
    title: bool
    start: int = 0
    end: int = 0
    lead: bool = False  # the title or the opening of the body
    question: bool = False  # a headline asking a question
    services: set[str] = field(default_factory=set)
    providers: set[str] = field(default_factory=set)  # AI providers named here (qualified)
    general: list[tuple[str, int]] = field(default_factory=list)  # (company, end) waiting for an AI word
    ai_at: list[int] = field(default_factory=list)  # where AI words start
    regions: set[str] = field(default_factory=set)
    precedents: set[str] = field(default_factory=set)
    places: set[str] = field(default_factory=set)
    weak_regions: set[str] = field(default_factory=set)  # "follows Indonesia": somebody else's restriction
    actions: set[str] = field(default_factory=set)
    pending_lift: bool = False
    cues: set[str] = field(default_factory=set)
    audience: list[Mention] = field(default_factory=list)
    exempt_at: list[tuple[int, int]] = field(default_factory=list)

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

    def classify(self, title: str, text: str = "", published: datetime | None = None) -> Detection:
        """``published`` (UTC) resolves dates without a year ("from July 9") into ``effective``."""
        norm_title = normalize(title)
        if self.watch or self.exclude:
            everything = f"{norm_title}\n{normalize(text)}"
            if self.exclude and self.exclude.find(everything):
                return Detection(relevant=False, score=0.0)
            watched = self.watch.find(everything) if self.watch else ()
        else:
            watched = ()
        for limit in (OPENING_CHARS, DETECT_BODY_CHARS):
            body = normalize(text, limit, keep_newlines=True)
            full = f"{norm_title}\n{body}"
            sentences = self._sentences(full, len(norm_title))
            score, event, actions = self._decide(sentences)
            if event is not None or len(text) <= limit or not _headline_event(sentences[0]):
                break
        if event is None or score < THRESHOLD:
            return Detection(relevant=False, score=round(score, 3), watched=watched)
        lead = [s for s in sentences if s.lead and s is not event]
        return Detection(
            relevant=True,
            score=round(score, 3),
            tags=self._tags(sentences, event, actions, full),
            watched=watched,
            places=tuple(sorted(sentences[0].places | event.places)),
            effective=_effective(full, [sentences[0], event], lead, published),
        )

    # --- evidence per sentence -------------------------------------------------------------------

    def _sentences(self, full: str, title_len: int) -> list[_Sentence]:
        sentences = [
            _Sentence(title=True, start=0, end=title_len, lead=True, question="?" in full[:title_len])
        ]
        body = full[title_len + 1 :]
        breaks = [m.start() for m in _NEWLINE_RE.finditer(body)]
        paragraphs: list[int] = []
        for start, end in sentence_spans(body):
            sentences.append(_Sentence(title=False, start=title_len + 1 + start, end=title_len + 1 + end))
            paragraphs.append(bisect.bisect_right(breaks, start))
        # the lead: the first paragraph, and the second when the first is a single sentence (a
        # dateline or a teaser), at most LEAD_SENTENCES
        last = 0 if paragraphs.count(0) >= 2 else 1
        for sentence, paragraph in zip(sentences[1 : LEAD_SENTENCES + 1], paragraphs, strict=False):
            sentence.lead = paragraph <= last
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
        elif term.category == "weak_region":
            sentence.weak_regions.add(term.value)
        elif term.category == "place":
            sentence.places.add(term.value)
        elif term.category == "action":
            before = full[max(sentence.start, match.start - 16) : match.start]
            if term.value == "lift" and _PENDING_LIFT_BEFORE_RE.search(before):
                sentence.pending_lift = True
            else:
                sentence.actions.add(term.value)
        elif term.category == "audience":
            sentence.audience.append(Mention(term.value, match.start, match.end))
        elif term.category == "cue":
            sentence.cues.add(term.value)
            if term.value == "ai":
                sentence.ai_at.append(match.start)
            elif term.value == "exempt":
                sentence.exempt_at.append((match.start, match.end))

    def _qualify(self, sentence: _Sentence) -> None:
        """Services imply their providers; a general company counts when one of its own services is
        named in the sentence or an AI word follows it closely ("Google's AI chatbot", "谷歌 AI")."""
        if not sentence.regions:
            sentence.regions = sentence.weak_regions
        if sentence.pending_lift and not sentence.actions & RESTRICTIVE:
            sentence.actions.add("lift")  # "will be restored" is news when nothing is restricted
        for service in sentence.services:
            sentence.providers.update(self.vocab.service_providers.get(service, ()))
        reach = sentence.end if sentence.title else 25  # a headline is one phrase
        for company, end in sentence.general:
            if company in sentence.providers:
                continue
            if any(0 <= start - end <= reach for start in sentence.ai_at):
                sentence.providers.add(company)
        if sentence.question and "arrival" in sentence.cues and not sentence.actions & RESTRICTIVE:
            # "Apple Intelligence 年内进入中国？": asking when it arrives says it is not there yet
            sentence.cues.discard("arrival")
            sentence.actions.add("restrict")
        if "api" in sentence.cues:  # "OpenAI to block API access": its API service
            sentence.services.update(
                self.vocab.provider_api[p] for p in sentence.providers if p in self.vocab.provider_api
            )

    # --- the decision ----------------------------------------------------------------------------

    def _decide(self, sentences: list[_Sentence]) -> tuple[float, _Sentence | None, set[str]]:
        """The score, the sentence that decided it and its actions (None when nothing did)."""
        title = sentences[0]
        self._home_market(sentences)
        context = _ArrivalContext(
            withheld=any("withheld" in s.cues for s in sentences if s.lead),
            # "X now available in Europe": in this topic's news a launch named in the title with a
            # region is almost always one that had been held back (global launches are cued apart)
            title_arrival="arrival" in title.cues
            and bool(title.regions)
            and "global" not in title.cues
            and not title.actions & RESTRICTIVE,
            restricted_regions=set().union(
                *(s.regions for s in sentences if s.lead and s.actions & RESTRICTIVE)
            ),
            title_lift="lift" in title.actions,
        )
        headline_event = _headline_event(title)
        best: tuple[float, _Sentence, set[str]] | None = None
        for sentence in sentences[:40]:
            if not sentence.lead and not (headline_event and "earlier" not in sentence.cues):
                continue
            actions = set(sentence.actions)
            if context.is_lift(sentence):
                actions.add("lift")
            if not actions:
                continue
            has_subject = sentence.subject or title.subject
            regions = sentence.regions or title.regions
            if not (has_subject and regions):
                continue
            strength = 1.0 if sentence.title else 0.9 if sentence.lead else BACKGROUND_STRENGTH
            if not sentence.subject:
                strength -= 0.15
            if not sentence.regions:
                strength -= 0.15
            if best is None or strength > best[0]:
                best = (strength, sentence, actions)
            if strength >= 0.9:
                break
        if (best is None or best[0] < LEAD_PLACE_STRENGTH) and headline_event and title.actions:
            # the headline's restriction, placed by the lead ("...晒出 OpenAI 发来的邮件" after "国内开发者")
            placed = next(
                (s for s in sentences[1:] if s.lead and s.regions and "earlier" not in s.cues), None
            )
            if placed is not None:
                best = (LEAD_PLACE_STRENGTH, placed, set(title.actions))
        if best is None:
            return 0.0, None, set()
        strength, event, actions = best
        score = strength - _lookalike_penalty(title, event, actions, sentences[1:])
        return max(0.0, min(1.0, score)), event, actions

    def _home_market(self, sentences: list[_Sentence]) -> None:
        """A service opened to the public at home once the regulator approved it ("文心一言通过备案，
        向全社会开放") names no region: the region is the provider's home market."""
        title, opening = sentences[0], [s for s in sentences if s.lead]
        if any(s.regions for s in opening) or "lift" not in title.actions:
            return
        if not any("approval" in s.cues for s in opening):
            return
        homes = {self.vocab.provider_home.get(p) for p in title.providers}
        if len(homes) == 1 and None not in homes:
            title.regions = set(homes)  # type: ignore[arg-type]

    def _tags(self, sentences: list[_Sentence], event: _Sentence, actions: set[str], full: str) -> Tags:
        title = sentences[0]
        lead = [s for s in sentences[1:] if s.lead]
        who = title if title.subject else event
        providers, services = set(who.providers), set(who.services)
        if who is title and event.subject and not title.services:
            # the deciding sentence may name the service the title only hints at ("OpenAI" -> "API")
            services |= {
                s for s in event.services if set(self.vocab.service_providers.get(s, ())) & providers
            }
        for sentence in lead:
            # providers listed beside the title's ("Apple, with partner Alibaba, ...")
            if sentence.providers & providers and sentence.actions and "precedent" not in sentence.cues:
                providers |= sentence.providers
                services |= sentence.services
        homes = {self.vocab.provider_home.get(p) for p in providers}
        regions = _regions(title, lead, event, homes)
        whom = self._audience([title, event, *lead], services, full)
        return Tags(
            providers=tuple(sorted(providers)),
            services=tuple(sorted(services)),
            regions=tuple(sorted(regions)),
            actions=tuple(sorted(_chosen_actions(title, actions, whom))),
            audience=whom,
        )

    def _audience(self, sentences: list[_Sentence], services: set[str], full: str) -> tuple[str, ...]:
        """Whom the lead says the change hits (background precedents aside); the services' own
        audience when it names nobody."""
        told = list({id(s): s for s in sentences if "earlier" not in s.cues or s.title}.values())
        return audience(
            full,
            [(s.start, s.end) for s in told],
            [m for s in told for m in s.audience],
            [e for s in told for e in s.exempt_at],
            fallback={a for service in services for a in self.vocab.service_audience.get(service, ())},
        )


def _headline_event(title: _Sentence) -> bool:
    """The headline reports a restriction or a lift: a sentence after the lead may say where."""
    return title.subject and bool(title.actions or ("arrival" in title.cues and title.regions))


def _chosen_actions(title: _Sentence, actions: set[str], whom: tuple[str, ...]) -> set[str]:
    """What happened, in one word where the report allows: a lift is a lift; the title's verb wins over
    the body's; "restrict" only when nothing stronger is said ("blocks ... unsupported regions"), and a
    temporary block is a block. Rules by ownership are restrictions, whatever the verb."""
    if "lift" in actions:
        return {"lift"}
    if "ownership" in whom:
        return {"restrict"}
    chosen = title.actions & RESTRICTIVE or actions & RESTRICTIVE
    if chosen - {"restrict"}:
        chosen -= {"restrict"}
    if chosen & {"block", "ban"}:
        chosen -= {"suspend"}
    return chosen


def _effective(
    full: str, deciding: list[_Sentence], lead: list[_Sentence], published: datetime | None
) -> date | None:
    """When the lead event takes or took effect: a date marked as a start ("from July 9", "9 日起",
    "effective immediately") in the title or the deciding sentence, else in the rest of the lead
    (not in a sentence about a precedent), else a plain date in the deciding sentence ("blocked on
    Saturday")."""
    if published is None:
        return None
    told = [s for s in lead if "earlier" not in s.cues]
    found: dict[int, list[DateMention]] = {
        id(s): mentions(full, s.start, s.end, published) for s in {id(s): s for s in deciding + told}.values()
    }
    for group, marked in ((deciding, True), (told, True), (deciding[1:], False)):
        for sentence in group:
            for mention in found[id(sentence)]:
                if mention.starts or not marked:
                    return mention.day
    return None


def _regions(title: _Sentence, lead: list[_Sentence], event: _Sentence, homes: set[str | None]) -> set[str]:
    """Where: the title's regions (or the deciding sentence's), plus regions listed beside them in
    the opening sentences ("China and Hong Kong") unless that is the provider's home (DeepSeek's
    "Chinese") or a precedent ("after Italy and Taiwan")."""
    anchor = title.regions or event.regions
    regions = set(anchor)
    member_state = any(r in _EU_MEMBERS for r in anchor)
    for sentence in lead:
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
    precedent ("after Italy"), or a region."""
    before = full[max(sentence.start, match.start - 40) : match.start]
    if _is_origin(full, match) or _SUBSIDIARY_BEFORE_RE.search(before):
        return
    if _PRECEDENT_BEFORE_RE.search(before[-14:]):
        sentence.precedents.add(match.term.value)
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


def _lookalike_penalty(title: _Sentence, event: _Sentence, actions: set[str], body: list[_Sentence]) -> float:
    """How strongly the cues say this is one of the look-alikes rather than the topic."""
    cues_title, cues_event = title.cues, event.cues
    both = cues_title | cues_event
    penalty = 0.0
    if "outage" in cues_title or "datacenter" in cues_title:
        penalty += 0.7
    elif "outage" in cues_event or "datacenter" in cues_event:
        penalty += 0.4
    if "export" in cues_title:
        penalty += 0.6  # chip and model export rules, even when they name an AI firm
    elif "export" in cues_event and not event.services:
        penalty += 0.35
    government = any(m.value == "government-devices" for m in title.audience + event.audience)
    if "staff" in both and not government:
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
    if cues_title & {"proposal", "data_use", "regulation"}:
        penalty += 0.6  # a bill that would ban, a law, a suspension of data use for training: not a block
    for cue, in_title, in_event in _SHAPE_PENALTIES:
        if cue in cues_title:
            penalty += in_title
        elif cue in cues_event:
            penalty += in_event
    # how-tos and ads say so sentence after sentence ("方法一…", "sign up with code…")
    guide = sum(bool(s.cues & {"how_to", "reseller", "workaround"}) for s in body)
    penalty += min(0.5, 0.25 * max(0, guide - 1))
    if "exempt" in cues_title and not title.actions:
        penalty += 0.5  # "... remains available to customers in China": nothing changed
    if "pricing" in cues_title and "lift" in actions:
        penalty += 0.6  # a paid tier launching somewhere is not a restriction lifted
    if actions <= {"restrict"} and "launch" in cues_title and not (title.actions & RESTRICTIVE):
        penalty += 0.2  # a launch story that mentions availability in passing
    return penalty


# Shapes of text that carry the topic's words without being its news: (cue, in the title, in the
# deciding sentence). How-tos, threat reports and reseller ads open with the news of a block.
_SHAPE_PENALTIES = (
    ("how_to", 0.6, 0.0),  # in the body: counted sentence by sentence instead
    ("reseller", 0.7, 0.0),
    ("threat", 0.6, 0.4),
    ("task_force", 0.6, 0.3),
)
