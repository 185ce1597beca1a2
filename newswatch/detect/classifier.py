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
import itertools
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from ..models import Detection, Tags
from .audience import Mention, audience
from .dates import attached, mentions, reference_day
from .keywords import KeywordMatcher
from .text import OPENING_CHARS, Lead, normalize, sentence_spans
from .vocabulary import Match, Vocabulary

THRESHOLD = 0.5
# Characters of the body that detection reads: first the opening (``text.OPENING_CHARS``), then, only
# when the headline reports a restriction the opening does not place, the paragraphs after it. Later
# background only adds noise (older events) and time; watched and excluded keywords still look at the
# whole text.
DETECT_BODY_CHARS = 2_000
LEAD_SENTENCES = 5  # at most this many body sentences of the first paragraph(s) make the lead
BACKGROUND_STRENGTH = 0.75  # a later sentence completing the headline's event
LEAD_PLACE_STRENGTH = 0.8  # the headline's event, placed by a region in the lead
RESTRICTIVE = frozenset({"block", "ban", "suspend", "discontinue", "restrict"})
_STRONG = frozenset({"block", "ban", "suspend"})
# A region word that names where a company comes from, not where a restriction applies.
_ORIGIN_AFTER_RE = re.compile(
    r"^(?:'s)?[\s-]*(?:(?:generative |gen)?(?:ai|artificial intelligence)[\s-]+(?:\(ai\)\s+)?)?"
    r"(?:based|made|built|linked|developed|startup|start-up|company|companies|firm|rival|developer|lab|giant|"
    r"tech giant|"
    r"chatbots?|models?|assistants?|owner|parent|apps?(?! stores?)|"
    r"ai(?= (?:apps?|models?|chatbots?|startups?|compan|firms?|labs?|assistants?|tools?|services?)))\b"
)
# (Patterns match normalized text: OpenCC's tw2sp turns 程序 into 进程.)
_ORIGIN_AFTER_ZH_RE = re.compile(
    r"^\s*(?:的)?\s*(?:ai|人工智能|科技)?\s*(?:\(ai\))?\s*"
    r"(?:初创|新创|公司|企业|厂商|巨头|巨擘|大模型|模型|独角兽|本土|应用|进程|软件|产品|聊天机器人|app)"
    r"|^\s*ai(?:\s|$|助手|产品|工具)"
)
# "subsidiaries registered in Singapore": where the restricted companies' branches are, not the region
_SUBSIDIARY_BEFORE_RE = re.compile(r"(?:subsidiar\w*|registered|子公司|注册)[^.。,，]{0,25}$")
# Where user data goes or is kept: "transfers users' data to China", "stored on servers in China",
# "向中国传输数据", "数据传输至中国".
_DESTINATION_BEFORE_RE = re.compile(
    r"(?:(?=[^.;]*\b(?:data|information|histories|records|prompts)\b)"
    r"(?=[^.;]*\b(?:transfer|send|sent|shar|stor|rout|flow|hand|pass|funnel|leak)\w*)[^.;]*\b(?:to|in) "
    r"(?:servers in )?"
    # "发送至中国与美国": the second place of the list too
    r"|(?:传输|传送|转移|回传|发送|存储|储存|存放)[^，。]{0,12}(?:至|到|给|往|在)(?:[^，。]{1,8}[与和及、])?|传)$"
)
_DESTINATION_ENDS = ("to ", "in ", "至", "到", "给", "往", "在", "传", "与", "和", "及", "、")  # cheap, first
_DESTINATION_AFTER_RE = re.compile(r"(?:境内)?(?:传输|传送|转移|回传)")
_REGULATOR_AFTER_RE = re.compile(
    r"(?:'s)?\s*(?:data protection|privacy|data|competition)?\s*(?:regulator|watchdog|authority|commission"
    r"|commissioner|dpc|request|regulatory|privacy)|(?:的)?(?:数据保护|隐私|个人数据|私隐)?(?:监管|保护委员会|委员会|专员|机构)"
)
# A dateline: where the report was filed, not where anything happened ("(中央社台北5日综合外电报导)",
# "韩联社首尔2月17日电", "JAKARTA, Jan 10 (Reuters) -", "BRUSSELS (Reuters) -").
_DATELINE_AFTER_RE = re.compile(
    r"\d{1,2}月?\d{0,2}日[^\s，。,]{0,6}?(?:电|讯|报导|报道)"
    r"|,?\s*(?:jan|feb|mar|apr|may|jun|jul|aug|sept?|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\s*\("
    r"|\s*\((?:reuters|ap|afp|bloomberg|yonhap|xinhua|kyodo|cna)\)"
)
# A country reacting to somebody else's measure: "China hits back at Australia's ban", "中国外交部回应".
_REACTION_AFTER_RE = re.compile(
    r"(?:'s)?\s*(?:foreign ministry|embassy|government)?\s*"
    r"(?:hit(?:s|ting)? back|criticiz|criticis|slam|condemn|protest|accus|denounc|retaliat)"
    r"|(?:外交部|驻\S{0,4}使馆|政府|官方)?(?:发言人)?(?:回应|批评|抗议|谴责|反驳|回击|指责|反制)"
)
_DATELINE_CHARS = 12  # how far into its sentence a dateline's place can be
_ATTRIBUTIVE_RE = re.compile(r"(?:'s)?\s*(?:的)?\s*")  # "China's DeepSeek", "中国的 DeepSeek"
_PRECEDENT_BEFORE_RE = re.compile(r"(?:follows|following|after|joins|joining|like|继)\s*$")
_ORIGIN_BEFORE_ZH = ("国产",)
_NEWLINE_RE = re.compile("\n")
# Clause breaks in a headline: punctuation other than the comma of a list, and a space between two
# Chinese characters ("…登陆欧盟同英国 香港用户仍然要等").
_TITLE_CLAUSE_RE = re.compile(r"[，;；:：!！?？|｜]|(?<=[\u4e00-\u9fff]) (?=[\u4e00-\u9fff])")
# A lift still to come once a condition is met ("将在整改后恢复", "will only resume after"): news only
# when nothing is restricted; one still awaited ("仍待获批", "pending approval") is the restriction.
_PENDING_LIFT_BEFORE_RE = re.compile(
    r"(?:将在|将于|才会?|before it can|only after|will only)[^。，,]{0,24}$"
    r"|[^。，,\s]{1,6}后\s*$"  # "整改后恢复": after a condition (a lift only where nothing is restricted)
)
_AWAITING_LIFT_BEFORE_RE = re.compile(
    r"(?:仍待|尚待|等待|待|直至|直到|until|pending|awaiting)[^。，,]{0,24}$"
)
# A restriction told as the past of an arrival: "rolls out after a long delay", "延迟近一年，……上线"
_PAST_BEFORE_RE = re.compile(
    r"(?:\bafter|\bfollowing|\bsince|\bend(?:s|ed|ing)?\b|历经|经过|结束)[^.,;，。]{0,20}$"
)
_PAST_AFTER_RE = re.compile(r"[^，,。；;]{1,10}?之?后[，,]")  # "推迟一个月后，……登陆欧盟"
# "now available in the EU, nine months after the company said it would keep the features out"
_LATER_THAN_RE = re.compile(r"\bafter\b")
_CLAUSE_RE = re.compile(r"[,，;；:：]")
_OPENING_TIME_CHARS = 12  # "Last July, ...", "去年7月……": a sentence set in an earlier time
_STRIVING_BEFORE_RE = re.compile(
    r"(?:努力|致力|争取|力争|计划|打算|\bworking to|\btrying to|\bhopes? to|\baims? to|\bplans? to"
    r"|\bseeking to)[^.,;，。]{0,16}$"
)
_NEGATION_BEFORE_RE = re.compile(
    r"(?:\bnot|\bnever|n't|\bno longer|\bwithout)\s*(?:\S+\s+)?$"
    # Chinese wraps the place between ("不会向欧盟开放"); "不仅", "不久" negate nothing
    r"|(?:不会|不再|并未|未能|没有|未|唔|冇|不(?![仅但只过久少]))[^\s，。,;；!?！？]{0,8}$"
)

# An arrival whose contrast clause says the rest stays out, with the verb left out: "Llama 3.1 is
# available in the EU, but Meta's multimodal models still won't be". (Chinese says the verb again,
# "但……仍无法使用", and that is a restriction of its own.)
_DENIED_AFTER_RE = re.compile(
    r"[^.;!?]{0,60}?[,;]\s*but\b[^.;!?]{0,50}?\b(?:won't|will not|wouldn't|isn't|aren't|is not|are not)"
    r"(?:\s+be)?\s*(?:$|[.;!?]|\b(?:available|coming|offered|released|launching)\b)"
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
    region_at: list[tuple[str, int, int]] = field(default_factory=list)  # (code, start, end)
    named_at: list[tuple[str, int]] = field(default_factory=list)  # (provider, start)
    said: list[tuple[str, int]] = field(default_factory=list)  # (action or "arrival", where)
    precedents: set[str] = field(default_factory=set)
    regulator_at: set[int] = field(default_factory=set)  # member states named for their regulator
    language_at: set[int] = field(default_factory=set)  # region words that are also language names
    earlier_at: list[int] = field(default_factory=list)  # where words about an earlier time are
    arrived_at: list[int] = field(default_factory=list)  # arrivals neither denied nor still striven for
    places: set[str] = field(default_factory=set)
    weak_regions: set[str] = field(default_factory=set)  # "国内", "境内": whichever country is meant
    actions: set[str] = field(default_factory=set)
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
        return self.read(Lead.of(title, text), text, published)

    def read(self, lead: Lead, text: str, published: datetime | None = None) -> Detection:
        """``classify`` for an article whose lead is normalized already (``Lead.of(title, text)``):
        the story keys are made of the same lead, so it is normalized once. ``text`` is the raw body,
        for the paragraphs after the opening and for watched keywords."""
        if self.watch or self.exclude:
            everything = f"{lead.title}\n{normalize(text)}"
            if self.exclude and self.exclude.find(everything):
                return Detection(relevant=False, score=0.0)
            watched = self.watch.find(everything) if self.watch else ()
        else:
            watched = ()
        full = lead.text
        for limit in (OPENING_CHARS, DETECT_BODY_CHARS):
            if limit > OPENING_CHARS:
                full = f"{lead.title}\n{normalize(text, limit, keep_newlines=True)}"
            sentences = self._sentences(full, len(lead.title))
            score, event, actions = self._decide(sentences)
            # a round-up lists its places past the opening: it is read on
            if len(text) <= limit or (event is None and not _headline_event(sentences[0])):
                break
            if event is not None and not _is_roundup(sentences):
                break
        if event is None or score < THRESHOLD:
            return Detection(relevant=False, score=round(score, 3), watched=watched)
        return Detection(
            relevant=True,
            score=round(score, 3),
            tags=self._tags(sentences, event, actions, full),
            watched=watched,
            places=tuple(sorted(sentences[0].places | event.places)),
            effective=_effective(full, sentences, event, published, "lift" in actions),
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
            self._qualify(sentence, full)
        return sentences

    def _add(self, sentence: _Sentence, match: Match, full: str) -> None:
        term = match.term
        if term.category == "service":
            sentence.services.add(term.value)
            sentence.named_at.extend(
                (p, match.start) for p in self.vocab.service_providers.get(term.value, ())
            )
        elif term.category == "provider":
            sentence.named_at.append((term.value, match.start))
            if self.vocab.provider_is_ai.get(term.value):
                sentence.providers.add(term.value)
            else:
                sentence.general.append((term.value, match.end))
        elif term.category == "region":
            _add_region(sentence, match, full)
        elif term.category == "language":
            sentence.language_at.add(match.start)
        elif term.category == "weak_region":
            sentence.weak_regions.add(term.value)
        elif term.category == "place":
            sentence.places.add(term.value)
        elif term.category == "action":
            sentence.said.append((term.value, match.start))
        elif term.category == "audience":
            sentence.audience.append(Mention(term.value, match.start, match.end))
        elif term.category == "cue":
            sentence.cues.add(term.value)
            if term.value == "arrival":
                sentence.said.append(("arrival", match.start))
            elif term.value == "ai":
                sentence.ai_at.append(match.start)
            elif term.value == "exempt":
                sentence.exempt_at.append((match.start, match.end))
            elif term.value == "earlier":
                sentence.earlier_at.append(match.start)

    def _qualify(self, sentence: _Sentence, full: str) -> None:
        """Services imply their providers; a general company counts when one of its own services is
        named in the sentence or an AI word follows it closely ("Google's AI chatbot", "谷歌 AI").
        A region right before a company from there is its origin ("China's DeepSeek"), and in a
        sentence about languages a language name is a language ("supports French and Chinese")."""
        if "languages" in sentence.cues and sentence.language_at:
            sentence.region_at = [r for r in sentence.region_at if r[1] not in sentence.language_at]
        sentence.regions = {
            code
            for code, _, end in sentence.region_at
            if not any(
                self.vocab.provider_home.get(provider) == code and _ATTRIBUTIVE_RE.fullmatch(full, end, start)
                for provider, start in sentence.named_at
                if start >= end
            )
        }
        if not sentence.regions:
            sentence.regions = sentence.weak_regions
        _settle_actions(sentence, full)
        for service in sentence.services:
            sentence.providers.update(self.vocab.service_providers.get(service, ()))
        # a headline is one phrase: its AI word qualifies the company it names, unless an AI
        # provider is named too ("asks Apple, Google to remove DeepSeek": the app stores)
        reach = sentence.end if sentence.title and not sentence.providers else 25
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
            served = {
                p for service in sentence.services for p in self.vocab.service_providers.get(service, ())
            }
            sentence.services.update(
                self.vocab.provider_api[p]
                for p in sentence.providers - served  # "Azure OpenAI 服务 … API": not OpenAI's own API
                if p in self.vocab.provider_api
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
            if "occasion" in sentence.cues and not sentence.title:
                continue  # "消息传出后，国内厂商迅速行动": the restriction is why others act
            actions = set(sentence.actions)
            if context.is_lift(sentence):
                actions.add("lift")
            if not actions:
                continue
            has_subject = sentence.subject or title.subject
            # a sentence about somebody else's precedent does not take the title's region ("EU
            # watchdog says ..." / "after Italy blocked the chatbot")
            regions = sentence.regions or (set() if sentence.precedents else title.regions)
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
                (s for s in sentences[1:] if s.lead and s.regions and not s.cues & {"earlier", "occasion"}),
                None,
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
                added = sentence.providers - providers
                providers |= added
                # their services, and ours only when the title names none ("Sora": not ChatGPT too)
                services |= {
                    s
                    for s in sentence.services
                    if not title.services or set(self.vocab.service_providers.get(s, ())) & added
                }
        homes = {self.vocab.provider_home.get(p) for p in providers}
        # past the lead, a sentence saying the rule also covers other places still tells this event
        # ("俄罗斯、伊朗及北韩亦在限制之列"); other background does not
        covers = [
            s
            for s in sentences[1:]
            if not s.lead and "extends" in s.cues and not s.cues & {"earlier", "exempt"} and s.region_at
        ]
        regions = _regions(title, lead + covers, event, homes, full, lift="lift" in actions)
        # a round-up tells each listed measure: their places, whom they hit and what they did
        listed = _listed(sentences, full) if _is_roundup(sentences) else []
        for sentence, places in listed:
            regions |= places - homes
            actions = actions | (sentence.actions & RESTRICTIVE)
        whom = self._audience([title, event, *lead, *(sentence for sentence, _ in listed)], services, full)
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


def _settle_actions(sentence: _Sentence, full: str) -> None:
    """Which of the actions said in a sentence are its news. A lift still to come on a condition
    counts only when nothing is restricted, one still awaited is the restriction, and a restriction
    told as the past of an arrival ("rolls out after a long delay") is context: it marks the arrival
    as the end of a withholding. An arrival denied or still striven for ("not coming to the EU",
    "正努力进入中国市场") is a restriction."""
    arrivals = [at for action, at in sentence.said if action == "arrival"]
    pending = False
    for action, at in sentence.said:
        before = full[max(sentence.start, at - 30) : at]
        if action == "arrival":
            # "not coming to the EU", "不会登陆欧洲"; "正努力进入中国市场", "working to bring it to China"
            denied = _DENIED_AFTER_RE.match(full, at, sentence.end)
            if _NEGATION_BEFORE_RE.search(before) or _STRIVING_BEFORE_RE.search(before) or denied:
                sentence.actions.add("restrict")
                arrivals.remove(at)
            continue
        if action == "lift" and _AWAITING_LIFT_BEFORE_RE.search(before):
            sentence.actions.add("restrict")
        elif action == "lift" and _PENDING_LIFT_BEFORE_RE.search(before):
            pending = True
        elif action in RESTRICTIVE and arrivals and _told_as_past(sentence, full, at, arrivals, before):
            sentence.cues.add("withheld")
        else:
            sentence.actions.add(action)
    if pending and not sentence.actions & RESTRICTIVE:
        sentence.actions.add("lift")  # "will be restored" is news when nothing is restricted
    if not arrivals:
        sentence.cues.discard("arrival")
    sentence.arrived_at = arrivals


def _told_as_past(sentence: _Sentence, full: str, at: int, arrivals: list[int], before: str) -> bool:
    """ "After a long delay", an arrival dated after the restriction ("now available in the EU, nine
    months after the company said the DMA would keep the features out"), or a delay in a clause of
    its own before the arrival with a word that says it is over ("延迟近一年，Meta AI 开始在欧盟上线")."""
    if _PAST_BEFORE_RE.search(before) or _PAST_AFTER_RE.match(full, at):
        return True
    earlier = [arrival for arrival in arrivals if arrival < at]
    if earlier and _LATER_THAN_RE.search(full, earlier[-1], at):
        return True
    later = [arrival for arrival in arrivals if arrival > at]
    return "withheld" in sentence.cues and bool(later) and bool(_CLAUSE_RE.search(full, at, later[0]))


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
    full: str, sentences: list[_Sentence], event: _Sentence, published: datetime | None, lift: bool
) -> date | None:
    """When the lead event takes or took effect: a date marked as a start ("from July 9", "9 日起",
    "effective immediately") in the title or the deciding sentence, else in the rest of the lead, else
    a plain date that dates the event's own kind of action ("Indonesia on Saturday blocked"; for a
    launch withheld from Europe, not the day it launched elsewhere). Sentences about an earlier time
    are skipped; "today" is the dateline's day when there is one."""
    first = sentences[1] if len(sentences) > 1 else sentences[0]  # where a dateline would be
    today = reference_day(full, first.start, first.end, published)
    if today is None:
        return None
    deciding = [sentences[0], event]
    lead = [s for s in sentences if s.lead]
    told = list({id(s): s for s in [*deciding, *lead] if s.title or "earlier" not in s.cues}.values())
    found = {id(s): mentions(full, s.start, s.end, today) for s in told}
    decided = [s for s in told if any(s is d for d in deciding)]
    for group, plain in ((decided, False), (told, False), (told, True)):
        for sentence in group:
            for mention in found[id(sentence)]:
                if mention.starts if not plain else attached(full, mention, _dated(sentence, lift)):
                    return mention.day
    return None


def _dated(sentence: _Sentence, lift: bool) -> list[int]:
    """Where the sentence says the event's kind of thing: lifts and arrivals, or restrictions."""
    kinds = {"lift", "arrival"} if lift else RESTRICTIVE
    return [at for action, at in sentence.said if action in kinds]


def _regions(
    title: _Sentence,
    lead: list[_Sentence],
    event: _Sentence,
    homes: set[str | None],
    full: str,
    lift: bool,
) -> set[str]:
    """Where: the title's regions (or the deciding sentence's), plus regions listed beside them in
    the opening sentences ("China and Hong Kong") unless that is the provider's home (DeepSeek's
    "Chinese"), a precedent ("after Italy and Taiwan") or named in a clause about an earlier time
    ("去年7月……加拿大与俄罗斯、中国一同被排除在外"), and, for a restriction, where the service is said
    to be available ("已在美国、英国上线，唯独中国内地……"). A launch withheld from the EU after the Irish
    regulator's request is the EU's, not Ireland's."""
    anchor = _acting_regions(title, full) or event.regions
    regions = set(anchor)
    member_state = any(r in _EU_MEMBERS for r in anchor)
    for sentence in lead:
        if "precedent" in sentence.cues and "extends" not in sentence.cues:
            continue  # "after Italy"; but "同样适用该政策的还有俄罗斯" extends this one
        if (
            sentence.regions & anchor and (sentence.actions or sentence.subject)
        ) or "extends" in sentence.cues:
            regions |= (
                _current_regions(sentence, full)
                - (set() if lift else _available_regions(sentence, full))
                - homes
                - ({"EU"} if member_state else _EU_MEMBERS if "EU" in anchor else set())
            )
    if "EU" in regions:  # the member state whose regulator asked, in an EU-wide story
        named = {code for code, start, _ in title.region_at if start not in title.regulator_at}
        regions -= {
            code for s in (title, *lead) for code, start, _ in s.region_at if start in s.regulator_at
        } - named
    return regions


def _is_roundup(sentences: list[_Sentence]) -> bool:
    """The headline or the lead announces a list of places ("Here is where things stand", "以下整理各国
    措施", "Factbox: Which countries ...")."""
    return any("roundup" in s.cues for s in sentences if s.lead)


def _listed(sentences: list[_Sentence], full: str) -> list[tuple[_Sentence, set[str]]]:
    """The entries a round-up lists past its lead, with their regions: body sentences that say a
    restriction happened in a region ("Taiwan followed on January 31, barring ..."), not those that
    deny one ("have opened inquiries without ordering blocks", "尚未封锁"). Fewer than two
    paragraphs of them are background, not a list."""
    listed: list[tuple[_Sentence, set[str]]] = []
    for sentence in sentences[1:]:
        if sentence.lead or not sentence.region_at or "proposal" in sentence.cues:
            continue
        restrictions = [at for action, at in sentence.said if action in RESTRICTIVE]
        if not restrictions or any(
            _NEGATION_BEFORE_RE.search(full[max(sentence.start, at - 30) : at]) for at in restrictions
        ):
            continue
        if places := _listed_regions(sentence, full):
            listed.append((sentence, places))
    paragraphs = {full.count("\n", 0, sentence.start) for sentence, _ in listed}
    return listed if len(paragraphs) >= 2 else []


def _listed_regions(sentence: _Sentence, full: str) -> set[str]:
    """An entry's regions: a member state's entry is its own, whatever European law it cites."""
    regions = _current_regions(sentence, full) - _available_regions(sentence, full)
    return regions - {"EU"} if regions & _EU_MEMBERS else regions


def _current_regions(sentence: _Sentence, full: str) -> set[str]:
    """The sentence's regions but those named in a clause about an earlier time, or all of them when
    the sentence opens with one ("去年7月……时，加拿大……被排除在外")."""
    if not sentence.earlier_at:
        return sentence.regions
    if sentence.earlier_at[0] - sentence.start <= _OPENING_TIME_CHARS:
        return set()
    named: dict[str, bool] = {}  # region -> named in a clause of its own time at least once
    for code, start, _ in sentence.region_at:
        past = any(not _CLAUSE_RE.search(full, min(start, at), max(start, at)) for at in sentence.earlier_at)
        named[code] = named.get(code, False) or not past
    return {code for code in sentence.regions if named.get(code, True)}


def _available_regions(sentence: _Sentence, full: str) -> set[str]:
    """Regions named only in clauses that say the service arrived there, and nothing restricted."""
    if not sentence.arrived_at:
        return set()
    restricted = [at for action, at in sentence.said if action in RESTRICTIVE]
    available: set[str] = set()
    elsewhere: set[str] = set()
    for code, start, _ in sentence.region_at:
        left, right = _clause_around(full, sentence, start)
        there = any(left <= at < right for at in sentence.arrived_at)
        (available if there and not any(left <= at < right for at in restricted) else elsewhere).add(code)
    return available - elsewhere


def _clause_around(full: str, sentence: _Sentence, position: int) -> tuple[int, int]:
    """The (start, end) of the clause of ``sentence`` around ``position``."""
    breaks = [m.start() for m in _CLAUSE_RE.finditer(full, sentence.start, sentence.end)]
    left = max((b for b in breaks if b < position), default=sentence.start)
    right = min((b for b in breaks if b > position), default=sentence.end)
    return left, right


def _acting_regions(title: _Sentence, full: str) -> set[str]:
    """The title's regions, without those in a clause that says nothing happened there: "Sora 正式上线！
    台湾用户可用，欧盟、英国、瑞士暂时不开放" is about the EU, the UK and Switzerland."""
    if not title.regions or not title.said:
        return title.regions
    cuts = [0, *(m.end() for m in _TITLE_CLAUSE_RE.finditer(full, 0, title.end)), title.end]
    clauses = list(itertools.pairwise(cuts))
    acting = {
        code
        for code, start, _ in title.region_at
        if code in title.regions
        for left, right in clauses
        if left <= start < right and any(left <= at < right for _, at in title.said)
    }
    return acting or title.regions


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


_OWNERSHIP_RE = re.compile(r"持股|控股|\b(?:owned|controlled|ownership)\b")
_OWNERSHIP_ALIASES = ("资", "控股", "owned", "controlled")  # "中资控股企业": whose capital, not where made


def _add_region(sentence: _Sentence, match: Match, full: str) -> None:
    """Sort a region mention: where a company comes from or has branches, where data is sent or where
    the report was filed (dropped), somebody else's precedent ("after Italy"), or a region."""
    before = full[max(sentence.start, match.start - 40) : match.start]
    if _SUBSIDIARY_BEFORE_RE.search(before):
        return
    if _is_origin(full, match) and not _OWNERSHIP_RE.search(full, sentence.start, sentence.end):
        return  # "China's DeepSeek"; but in a rule on ownership, "伊朗或北韩企业" is whose companies
    if match.start - sentence.start <= _DATELINE_CHARS and _DATELINE_AFTER_RE.match(full, match.end):
        return
    if _REACTION_AFTER_RE.match(full, match.end):
        return  # the country answering a measure, not one where it applies
    if (
        before.endswith(_DESTINATION_ENDS) and _DESTINATION_BEFORE_RE.search(before)
    ) or _DESTINATION_AFTER_RE.match(full, match.end):
        return  # where user data goes ("transfers data to China", "向中国传输数据")
    if match.term.value in _EU_MEMBERS and _REGULATOR_AFTER_RE.match(full, match.end):
        sentence.regulator_at.add(match.start)
    if _PRECEDENT_BEFORE_RE.search(before[-14:]):
        sentence.precedents.add(match.term.value)
    else:
        sentence.region_at.append((match.term.value, match.start, match.end))


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
    government = "public_body" in both or any(
        m.value == "government-devices" for m in title.audience + event.audience
    )
    if "staff" in both and not government:  # a company's own staff, not civil servants
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
    if "partnership" in cues_title and not (title.actions & RESTRICTIVE) and not event.services:
        penalty += 0.5  # a deal, whose lead names no AI service restricted ("Google 服务无法在大陆使用")
    if cues_title & {"proposal", "data_use"}:
        penalty += 0.5  # a bill that would ban, a suspension of data use for training: not a block
    if "regulation" in cues_title and not (title.actions & RESTRICTIVE):
        penalty += 0.5  # a law or a code of practice, not a service restricted
    if "task_force" in cues_title and not (title.actions & RESTRICTIVE):
        penalty += 0.6  # a task force or working group coordinates; it blocks nothing
    for cue, in_title, in_event in _SHAPE_PENALTIES:
        if cue == "how_to" and "explainer" in cues_title:
            continue  # "禁用问答：哪些单位不能用？": questions about the rule, not ways around it
        if cue in cues_title:
            penalty += in_title
        elif cue in cues_event:
            penalty += in_event
    # how-tos and ads say so sentence after sentence ("方法一…", "sign up with code…")
    guide = sum(bool(s.cues & {"how_to", "reseller"}) for s in body)
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
    ("threat", 0.6, 0.25),
)
