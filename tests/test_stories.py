"""A story is a real-world event: who, where, which way and for whom.

Reports of one event join its story however they differ in detail (a date, an exemption, one more
region, "ban" for "block", ChatGPT for OpenAI, another language, a week of coverage); different events
never join, even with the same provider and region; a change of status is a new story naming the
earlier one. The reports below are tagged by hand, as the detector should tag them, so that these
are the story logic's own specs; a few at the end go through the real detector and the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, Table, select, text

from newswatch.detect.evaluation import Report, evaluate, load_corpora
from newswatch.detect.stories import (
    EFFECTIVE,
    EXTENDED,
    HORIZON,
    LIFTED,
    MIN_JACCARD,
    MemoryIndex,
    Placement,
    StoryKeys,
    assign,
    jaccard,
    story_keys,
)
from newswatch.detect.text import normalize
from newswatch.models import Article, Detection, Tags
from newswatch.storage import articles, connect, schema
from newswatch.storage import stories as story_store
from newswatch.storage.db import migrate

T0 = datetime(2024, 6, 25, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def detection(
    providers: tuple[str, ...],
    regions: tuple[str, ...],
    actions: tuple[str, ...] = ("block",),
    *,
    services: tuple[str, ...] = (),
    audience: tuple[str, ...] = (),
    places: tuple[str, ...] = (),
    effective: date | None = None,
) -> Detection:
    tags = Tags.from_dict(
        {
            "providers": list(providers),
            "services": list(services),
            "regions": list(regions),
            "actions": list(actions),
            "audience": list(audience),
        }
    )
    return Detection(True, 1.0, tags, places=tuple(sorted(places)), effective=effective)


def report(title: str, text: str = "", **tags) -> StoryKeys:
    """A report as the crawl keys it: its normalized text, tagged as given."""
    return story_keys(normalize(f"{title}\n{text}"), detection(**tags))


class Stories:
    """Reports placed in publication order, as ``newswatch classify`` and the scorer place them."""

    def __init__(self) -> None:
        self.index = MemoryIndex()
        self.count = 0

    def add(self, keys: StoryKeys, when: datetime) -> tuple[str, Placement]:
        self.count += 1
        return assign(self.index, keys, when, f"report-{self.count}")

    def story(self, keys: StoryKeys, when: datetime) -> str:
        return self.add(keys, when)[0]


@pytest.fixture
def stories() -> Stories:
    return Stories()


OPENAI_API_CN = {"providers": ("openai",), "services": ("openai api",), "regions": ("CN",)}
AZURE_CN = {
    "providers": ("microsoft", "openai"),
    "services": ("azure openai",),
    "regions": ("CN",),
    "actions": ("discontinue",),
    "audience": ("individual-developers",),
}
DEEPSEEK = {"providers": ("deepseek",), "services": ("deepseek",)}


# --- one event, reported with different detail -----------------------------------------------------


def test_reports_naming_the_exemption_the_date_or_neither_are_one_story(stories: Stories) -> None:
    first = stories.story(
        report("Microsoft stops Azure OpenAI for individual developers in mainland China", **AZURE_CN),
        T0,
    )
    exemption = stories.story(
        report("Azure OpenAI: enterprise customers in China are not affected", **AZURE_CN), T0 + DAY
    )
    dated = stories.story(
        report(
            "微软：10 月 21 日起停止向中国大陆个人开发者提供 Azure OpenAI 服务",
            **AZURE_CN | {"effective": date(2024, 10, 21)},
        ),
        T0 + 2 * DAY,
    )
    unsaid = stories.story(
        report("Microsoft ends Azure OpenAI access in China", **AZURE_CN | {"audience": ()}), T0 + 3 * DAY
    )

    assert first == exemption == dated == unsaid


def test_a_report_adding_hong_kong_or_saying_ban_or_naming_only_the_provider_joins(stories: Stories) -> None:
    first = stories.story(report("OpenAI to block API traffic from China", **OPENAI_API_CN), T0)
    hong_kong = stories.story(
        report(
            "OpenAI blocks API access from mainland China and Hong Kong",
            **OPENAI_API_CN | {"regions": ("CN", "HK")},
        ),
        T0 + timedelta(hours=2),
    )
    banned = stories.story(
        report("OpenAI bans Chinese developers from its API", **OPENAI_API_CN | {"actions": ("ban",)}),
        T0 + timedelta(hours=3),
    )
    provider_only = stories.story(
        report("OpenAI cuts off China", **OPENAI_API_CN | {"services": ()}), T0 + timedelta(hours=4)
    )
    hong_kong_only = stories.story(
        report("香港開發者：OpenAI 封鎖香港 API", **OPENAI_API_CN | {"regions": ("HK",)}),
        T0 + timedelta(hours=5),
    )

    assert first == hong_kong == banned == provider_only == hong_kong_only


def test_a_report_naming_chatgpt_joins_one_naming_openai(stories: Stories) -> None:
    openai = stories.story(
        report(
            "Italy orders OpenAI to stop processing Italians' data", providers=("openai",), regions=("IT",)
        ),
        T0,
    )
    chatgpt = stories.story(
        report("ChatGPT blocked in Italy", providers=("openai",), services=("chatgpt",), regions=("IT",)),
        T0 + DAY,
    )
    assert openai == chatgpt


def test_reports_naming_users_developers_or_businesses_of_one_cut_off_are_one_story(
    stories: Stories,
) -> None:
    tags = {"providers": ("anthropic",), "services": ("claude",), "regions": ("EU",), "actions": ("lift",)}
    users = stories.story(
        report("Claude now available to users in Europe", **tags, audience=("consumers",)), T0
    )
    teams = stories.story(
        report("Claude opens to European businesses", **tags, audience=("enterprises",)), T0 + DAY
    )
    builders = stories.story(
        report("Claude reaches EU developers", **tags, audience=("developers",)), T0 + 2 * DAY
    )
    assert users == teams == builders


def test_a_launch_in_the_eu_and_one_in_the_eu_and_the_rest_of_the_eea_are_one_story(stories: Stories) -> None:
    tags = {"providers": ("anthropic",), "services": ("claude",), "actions": ("lift",)}
    eea = stories.story(
        report(
            "Claude arrives in the EU, Iceland, Liechtenstein and Norway",
            **tags,
            regions=("EU", "IS", "LI", "NO"),
        ),
        T0,
    )
    eu = stories.story(report("Claude 登陆欧盟", **tags, regions=("EU",)), T0 + DAY)
    assert eea == eu


def test_the_same_event_in_chinese_and_english_is_one_story(stories: Stories) -> None:
    tags = {**DEEPSEEK, "regions": ("IT",), "audience": ("consumers",)}
    english = stories.story(report("Italy's privacy watchdog blocks DeepSeek", **tags), T0)
    chinese = stories.story(report("意大利数据保护机构下令封锁 DeepSeek", **tags), T0 + timedelta(hours=8))
    traditional = stories.story(report("義大利下令封鎖 DeepSeek", **tags), T0 + timedelta(hours=9))
    assert english == chinese == traditional


FOUR_COUNTRIES = ("CN", "IR", "KP", "RU")


def ownership_rule(title: str, regions: tuple[str, ...] = FOUR_COUNTRIES) -> StoryKeys:
    """A report of Anthropic's rule on companies controlled from some countries, as tagged."""
    rule = {"providers": ("anthropic",), "services": ("claude",), "actions": ("restrict",)}
    return report(title, **rule, audience=("ownership",), regions=regions)


def test_a_report_naming_only_china_joins_a_rule_on_china_russia_iran_and_north_korea(
    stories: Stories,
) -> None:
    first = stories.story(ownership_rule("Anthropic bars companies controlled from China, Russia, Iran"), T0)
    again = stories.story(
        ownership_rule("Anthropic stops selling Claude to Chinese-controlled firms"), T0 + DAY
    )
    china = stories.story(ownership_rule("Anthropic 封杀中资控股企业", ("CN",)), T0 + 2 * DAY)
    assert first == again == china


def test_a_report_naming_hong_kong_too_joins_a_rule_on_four_countries(stories: Stories) -> None:
    first = stories.story(ownership_rule("Anthropic bars Chinese-controlled firms from Claude"), T0)
    again = stories.story(ownership_rule("Anthropic 停止向中资控股企业提供 Claude"), T0 + DAY / 8)
    hong_kong = stories.story(
        ownership_rule("Anthropic 封殺中資企業　香港公司都中招", ("CN", "HK")), T0 + DAY / 4
    )
    assert first == again == hong_kong


def test_a_report_naming_chatgpt_joins_the_api_notice_whose_date_it_names(stories: Stories) -> None:
    july_9 = date(2024, 7, 9)
    notice, _ = stories.add(
        report("OpenAI to block API traffic from China from July 9", **OPENAI_API_CN, effective=july_9), T0
    )
    chatgpt = {"providers": ("openai",), "services": ("chatgpt",), "regions": ("CN",)}
    dated = stories.story(
        report("ChatGPT gets harder to reach from China from July 9", **chatgpt, effective=july_9), T0 + DAY
    )
    sign_ups = stories.story(report("ChatGPT sign-ups are unavailable in China", **chatgpt), T0 + 2 * DAY)
    _, in_effect = stories.add(
        report("OpenAI's China API block is now in effect", **OPENAI_API_CN, effective=july_9),
        datetime(2024, 7, 9, 3, tzinfo=UTC),
    )
    assert dated == notice != sign_ups  # the date is the notice's own; sign-ups are another event
    assert in_effect == Placement(None, notice, EFFECTIVE)


def test_coverage_over_a_week_joins_and_the_window_counts_from_the_first_report(stories: Stories) -> None:
    tags = {**DEEPSEEK, "regions": ("KR",), "actions": ("suspend",), "audience": ("consumers",)}
    first = stories.story(report("DeepSeek suspends downloads in South Korea", **tags), T0)
    day3 = stories.story(report("DeepSeek suspension: what Korean users can still do", **tags), T0 + 3 * DAY)
    day6 = stories.story(report("DeepSeek talks to Korea's PIPC", **tags), T0 + 6 * DAY + timedelta(hours=20))
    day8 = stories.story(report("Korea's DeepSeek suspension, a week on", **tags), T0 + 8 * DAY)

    assert first == day3 == day6
    assert day8 != first  # two days after day 6, but eight after the first report


# --- distinct events never join --------------------------------------------------------------------


def test_the_api_block_and_chatgpt_sign_ups_in_china_are_two_events(stories: Stories) -> None:
    api = stories.story(report("OpenAI blocks its API in China", **OPENAI_API_CN), T0)
    sign_ups = stories.story(
        report(
            "ChatGPT sign-ups are unavailable in China",
            providers=("openai",),
            services=("chatgpt",),
            regions=("CN",),
        ),
        T0 + timedelta(hours=1),
    )
    assert api != sign_ups


def test_azure_openai_and_openai_itself_are_two_providers(stories: Stories) -> None:
    azure = stories.story(report("Microsoft ends Azure OpenAI in China", **AZURE_CN | {"audience": ()}), T0)
    openai = stories.story(report("OpenAI cuts off China", providers=("openai",), regions=("CN",)), T0 + DAY)
    assert azure != openai


def test_texas_and_new_york_are_two_events_and_new_york_after_texas_is_new_york(stories: Stories) -> None:
    tags = {**DEEPSEEK, "regions": ("US",), "actions": ("ban",), "audience": ("government-devices",)}
    texas = stories.story(report("Texas bans DeepSeek on state devices", **tags, places=("us-tx",)), T0)
    texas_again = stories.story(
        report("Abbott orders DeepSeek off state phones", **tags, places=("us-tx",)), T0 + DAY
    )
    new_york = stories.story(
        report("New York bans DeepSeek on state devices", **tags, places=("us-ny",)), T0 + 10 * DAY
    )
    after_texas = stories.story(
        report("继得州之后，纽约州禁止在政府设备上使用 DeepSeek", **tags, places=("us-ny", "us-tx")),
        T0 + 10 * DAY + timedelta(hours=3),
    )
    assert texas == texas_again != new_york == after_texas


def test_a_report_naming_no_place_does_not_let_texas_into_the_navys_story(stories: Stories) -> None:
    tags = {**DEEPSEEK, "regions": ("US",), "actions": ("ban",), "audience": ("government-devices",)}
    navy = stories.story(report("US Navy bans DeepSeek", **tags, places=("us-navy",)), T0)
    follow_up = stories.story(report("Navy says DeepSeek ban applies standing rules", **tags), T0 + DAY)
    texas = stories.story(
        report("Texas bans DeepSeek on state devices", **tags, places=("us-tx",)), T0 + 2 * DAY
    )
    assert navy == follow_up != texas


def test_government_devices_and_consumer_downloads_are_two_events(stories: Stories) -> None:
    korea = {**DEEPSEEK, "regions": ("KR",)}
    ministries = stories.story(
        report("Korean ministries block DeepSeek on work PCs", **korea, audience=("government-devices",)), T0
    )
    downloads = stories.story(
        report(
            "DeepSeek suspends new downloads in South Korea",
            **korea,
            actions=("suspend",),
            audience=("consumers",),
        ),
        T0 + DAY,
    )
    assert ministries != downloads


def test_italys_block_and_its_lifting_are_two_events_and_the_lift_names_the_block(stories: Stories) -> None:
    chatgpt = {
        "providers": ("openai",),
        "services": ("chatgpt",),
        "regions": ("IT",),
        "audience": ("consumers",),
    }
    block, _ = stories.add(report("Italy blocks ChatGPT", **chatgpt), T0)
    lift, placement = stories.add(
        report("ChatGPT is back in Italy", **chatgpt | {"actions": ("lift",)}), T0 + 28 * DAY
    )
    again, _ = stories.add(
        report("OpenAI restores ChatGPT for Italian users", **chatgpt | {"actions": ("lift",)}), T0 + 29 * DAY
    )

    assert block != lift == again
    assert placement == Placement(None, block, LIFTED)


def test_a_round_up_does_not_swallow_one_countrys_story(stories: Stories) -> None:
    grok = {"providers": ("xai",), "services": ("grok",), "audience": ("consumers",)}
    round_up, _ = stories.add(report("Who has blocked Grok?", **grok, regions=("ID", "MY", "TR", "VN")), T0)
    malaysia = stories.story(report("Malaysia restricts Grok", **grok, regions=("MY",)), T0 + DAY)
    assert malaysia != round_up


def test_a_round_up_of_events_already_told_joins_neither_and_does_not_alert(stories: Stories) -> None:
    grok = {"providers": ("xai",), "services": ("grok",), "audience": ("consumers",)}
    indonesia = stories.story(report("Indonesia blocks Grok", **grok, regions=("ID",)), T0)
    malaysia = stories.story(report("Malaysia restricts Grok", **grok, regions=("MY",)), T0 + DAY)
    round_up, told = stories.add(report("印尼大馬相繼封 Grok", **grok, regions=("ID", "MY")), T0 + 2 * DAY)

    assert len({indonesia, malaysia, round_up}) == 3
    assert told == Placement(None, alert=False)


def test_a_round_up_naming_a_country_not_told_yet_alerts(stories: Stories) -> None:
    grok = {"providers": ("xai",), "services": ("grok",), "audience": ("consumers",)}
    indonesia = stories.story(report("Indonesia blocks Grok", **grok, regions=("ID",)), T0)
    round_up, news = stories.add(
        report("Grok blocked in Indonesia, Malaysia and Turkey", **grok, regions=("ID", "MY", "TR")), T0 + DAY
    )
    assert round_up != indonesia and news.alert


# --- a change of status: a new story naming the earlier one ---------------------------------------


def test_a_restriction_taking_effect_is_an_update_of_its_notice(stories: Stories) -> None:
    july_9 = date(2024, 7, 9)
    notice, _ = stories.add(
        report("OpenAI to block API traffic from China from July 9", **OPENAI_API_CN, effective=july_9), T0
    )
    stories.add(
        report("OpenAI 7月9日起封鎖中港 API", **OPENAI_API_CN | {"regions": ("CN", "HK")}, effective=july_9),
        T0 + DAY,
    )
    in_effect, placement = stories.add(
        report("OpenAI's China API block is now in effect", **OPENAI_API_CN),
        datetime(2024, 7, 9, 3, tzinfo=UTC),
    )
    hong_kong, _ = stories.add(
        report("OpenAI 今日起封鎖香港 API", **OPENAI_API_CN | {"regions": ("HK",)}),
        datetime(2024, 7, 9, 6, tzinfo=UTC),
    )

    assert placement == Placement(None, notice, EFFECTIVE)
    assert hong_kong == in_effect  # a second report of the change joins the first


def test_taking_effect_is_told_by_the_wording_when_no_date_was_given(stories: Stories) -> None:
    notice = stories.story(report("OpenAI will block API traffic from China", **OPENAI_API_CN), T0)
    _, placement = stories.add(report("OpenAI's API ban on China kicks in", **OPENAI_API_CN), T0 + 14 * DAY)
    assert placement == Placement(None, notice, EFFECTIVE)


def test_a_late_report_of_a_block_in_force_since_its_first_report_is_no_update_and_no_alert(
    stories: Stories,
) -> None:
    tags = {**DEEPSEEK, "regions": ("IT",), "audience": ("consumers",), "effective": date(2024, 6, 25)}
    stories.add(report("Italy blocks DeepSeek with immediate effect", **tags), T0)
    _, placement = stories.add(
        report("Ten days on, the DeepSeek block that took effect in Italy", **tags), T0 + 10 * DAY
    )
    assert placement == Placement(None, alert=False)  # told already: a repeat, not news
    _, months_on = stories.add(report("Italy's DeepSeek block, six months on", **tags), T0 + 180 * DAY)
    assert months_on == Placement(None)  # past its trailing coverage: tags alike may be a new event


def test_a_lift_ten_weeks_on_names_the_suspension_it_lifts(stories: Stories) -> None:
    korea = {**DEEPSEEK, "regions": ("KR",), "audience": ("consumers",)}
    suspension = stories.story(
        report("DeepSeek suspends downloads in South Korea", **korea, actions=("suspend",)), T0
    )
    stories.story(
        report("Korean ministries block DeepSeek", **korea | {"audience": ("government-devices",)}), T0 + DAY
    )
    _, placement = stories.add(
        report("DeepSeek is back in Korean app stores", **korea, actions=("lift",)), T0 + 70 * DAY
    )
    assert placement == Placement(None, suspension, LIFTED)


def test_a_lift_of_nothing_known_and_a_block_after_a_lift_are_new_events(stories: Stories) -> None:
    meta = {"providers": ("meta",), "regions": ("EU",)}
    _, arrival = stories.add(report("Meta AI rolls out in the EU", **meta, actions=("lift",)), T0)
    _, again = stories.add(
        report("Meta pauses Meta AI in the EU again", **meta, actions=("restrict",)), T0 + 30 * DAY
    )
    assert arrival == again == Placement(None)


def test_a_restriction_reaching_a_new_region_in_so_many_words_is_an_extension(stories: Stories) -> None:
    china = stories.story(report("OpenAI blocks API traffic from China", **OPENAI_API_CN), T0)
    listed = stories.story(
        report(
            "OpenAI blocks API traffic from China and Hong Kong", **OPENAI_API_CN | {"regions": ("CN", "HK")}
        ),
        T0 + DAY,
    )
    _, extension = stories.add(
        report(
            "OpenAI extends its API block to Hong Kong and Macau", **OPENAI_API_CN | {"regions": ("HK", "MO")}
        ),
        T0 + 2 * DAY,
    )
    assert listed == china  # merely listing Hong Kong too is noise
    assert extension == Placement(None, china, EXTENDED)


def test_a_restriction_reaching_a_new_audience_in_so_many_words_is_an_extension(stories: Stories) -> None:
    individuals = stories.story(
        report("Azure OpenAI ends for individual developers in China", **AZURE_CN), T0
    )
    _, extension = stories.add(
        report(
            "Microsoft expands the Azure OpenAI cut-off to enterprise customers",
            **AZURE_CN | {"audience": ("enterprises",)},
        ),
        T0 + 20 * DAY,
    )
    assert extension == Placement(None, individuals, EXTENDED)


# --- through the real detector ----------------------------------------------------------------------


def test_detected_reports_of_one_event_join_and_a_lift_names_the_block(detector) -> None:
    index = MemoryIndex()

    def place(title: str, body: str, when: datetime, seed: str) -> tuple[str, Placement]:
        detected, keys = detector.analyze(title, body)
        assert detected.relevant, title
        return assign(index, keys, when, seed)

    block, _ = place("Italy blocks ChatGPT", "The Garante ordered OpenAI to stop.", T0, "a")
    banned, _ = place(
        "意大利禁止使用 ChatGPT", "意大利数据保护机构要求 OpenAI 停止处理用户数据。", T0 + DAY, "b"
    )
    lift, placement = place(
        "Italy lifts its ChatGPT ban", "OpenAI restored access for Italians.", T0 + 28 * DAY, "c"
    )

    assert block == banned != lift
    assert placement == Placement(None, block, LIFTED)


# --- in the store (SQLite, and PostgreSQL when configured) -----------------------------------------


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = connect(store_url)
    yield engine
    engine.dispose()


def save(
    engine: Engine, url: str, keys_and_detection: tuple[StoryKeys, Detection], when: datetime
) -> articles.Saved:
    keys, detected = keys_and_detection
    article = Article(source=url.split("/")[2], url=url, title=url, body="", lang="en", published=when)
    saved = articles.save(engine, article, detected, keys)
    assert saved is not None
    return saved


def tagged(title: str, **tags) -> tuple[StoryKeys, Detection]:
    detected = detection(**tags)
    return story_keys(normalize(title), detected), detected


def test_the_store_joins_reports_keeps_the_first_report_and_names_parents(engine: Engine) -> None:
    chatgpt = {"providers": ("openai",), "services": ("chatgpt",), "regions": ("IT",)}
    block = save(engine, "https://a.example/1", tagged("Italy blocks ChatGPT", **chatgpt), T0)
    earlier = save(
        engine,
        "https://b.example/1",
        tagged("ChatGPT banned in Italy", **chatgpt, actions=("ban",)),
        T0 - DAY,
    )
    late = save(
        engine,
        "https://c.example/1",
        tagged("Italy's ChatGPT block, a week on", **chatgpt),
        T0 + 6 * DAY + timedelta(hours=12),
    )
    lift = save(
        engine,
        "https://d.example/1",
        tagged("ChatGPT back in Italy", **chatgpt, actions=("lift",)),
        T0 + 28 * DAY,
    )

    assert earlier.story_id == block.story_id and not earlier.new_story
    assert late.story_id != block.story_id  # 7.5 days after the first report, which came a day earlier
    stored = story_store.get(engine, block.story_id)
    assert stored.published == T0 - DAY and len(stored.outlets) == 2
    lifted = story_store.get(engine, lift.story_id)
    assert (lifted.parent_id, lifted.change) == (block.story_id, LIFTED)


def test_a_lift_worded_like_its_restriction_is_not_a_copy_of_it(engine: Engine) -> None:
    """ "Perplexity restores its service to Russian users" shares nearly every shingle with "Perplexity
    stops its service to Russian users": a near-copy by MinHash, but the change the alerts exist for."""
    body = " ".join(["the ai search service for users in russia, the company said on its blog"] * 4)
    perplexity = {"providers": ("perplexity",), "services": ("perplexity",), "regions": ("RU",)}
    stop = tagged(f"Perplexity stops serving Russian users: {body}", **perplexity, actions=("discontinue",))
    back = tagged(f"Perplexity restores serving Russian users: {body}", **perplexity, actions=("lift",))
    assert jaccard(stop[0].signature, back[0].signature) >= MIN_JACCARD  # a copy by its words

    stopped = save(engine, "https://a.example/stop", stop, T0)
    restored = save(engine, "https://a.example/back", back, T0 + timedelta(hours=2))

    assert restored.story_id != stopped.story_id and restored.new_story
    lifted = story_store.get(engine, restored.story_id)
    assert (lifted.parent_id, lifted.change) == (stopped.story_id, LIFTED)


def test_the_store_keeps_a_round_up_of_told_events_from_alerting(engine: Engine) -> None:
    grok = {"providers": ("xai",), "services": ("grok",)}
    save(engine, "https://a.example/id", tagged("Indonesia blocks Grok", **grok, regions=("ID",)), T0)
    save(engine, "https://a.example/my", tagged("Malaysia restricts Grok", **grok, regions=("MY",)), T0 + DAY)
    round_up = save(
        engine,
        "https://a.example/both",
        tagged("Grok blocked in two countries", **grok, regions=("ID", "MY")),
        T0 + 2 * DAY,
    )

    assert round_up.new_story
    assert round_up.story_id not in {s.id for s in story_store.unqueued(engine)}
    assert story_store.get(engine, round_up.story_id).relevant


def test_an_events_history_outlives_the_join_keys(engine: Engine) -> None:
    korea = {**DEEPSEEK, "regions": ("KR",)}
    suspension = save(
        engine,
        "https://a.example/1",
        tagged("DeepSeek suspended in Korea", **korea, actions=("suspend",)),
        T0,
    )

    articles.prune_keys(engine, T0 + 70 * DAY)  # housekeeping ran meanwhile
    with engine.connect() as conn:
        kept = set(conn.execute(select(schema.story_keys.c.key)).scalars())
    assert kept == {"e:deepseek:KR:res", "w:deepseek"}  # the join keys are gone
    lift = save(
        engine,
        "https://b.example/1",
        tagged("DeepSeek back in Korea", **korea, actions=("lift",)),
        T0 + 70 * DAY,
    )
    assert story_store.get(engine, lift.story_id).parent_id == suspension.story_id

    articles.prune_keys(engine, T0 + HORIZON + 71 * DAY)
    with engine.connect() as conn:
        assert conn.execute(select(schema.story_keys.c.key)).first() is None


def test_a_store_from_before_stories_were_events_keeps_its_stories_and_they_join(store_url: str) -> None:
    """A version-2 store: rows without audience, effective dates or parents, outlets without lang or
    summary, event keys of the old form (the whole provider set) and no provider keys."""
    engine = connect(store_url, upgrade=False)
    try:
        with engine.begin() as conn:
            schema.metadata.create_all(conn)
            conn.execute(text("DROP INDEX ix_stories_parent_id"))
            conn.execute(text("DROP INDEX ix_stories_first"))  # v4's, over v3's columns
            for table, columns in {
                "articles": ("link", "effective"),
                "stories": ("effective", "parent_id", "change"),
                "subscribers": ("lang",),
            }.items():
                for column in columns:
                    conn.execute(text(f'ALTER TABLE {table} DROP COLUMN "{column}"'))
            conn.execute(schema.schema_version.insert().values(version=2))
            old = {
                name: Table(name, MetaData(), autoload_with=conn)
                for name in ("stories", "articles", "story_keys")
            }
            tags = {"providers": ["openai"], "services": [], "regions": ["CN"], "actions": ["block"]}
            conn.execute(
                old["stories"]
                .insert()
                .values(
                    id="s-old",
                    title="OpenAI blocks API access in China",
                    url="https://old.example/1",
                    source="old",
                    summary="",
                    lang="en",
                    published=T0,
                    created=T0,
                    updated=T0,
                    relevant=True,
                    kept=True,
                    score=1.0,
                    tags=tags,
                    watched=[],
                    outlets=[{"source": "old", "url": "https://old.example/1", "title": "t"}],
                    article_count=1,
                    queued=True,
                )
            )
            article_id = conn.execute(
                old["articles"]
                .insert()
                .values(
                    url="https://old.example/1",
                    source="old",
                    title="t",
                    summary="",
                    body="",
                    lang="en",
                    author="",
                    image="",
                    published=T0,
                    fetched=T0,
                    fingerprint="0" * 32,
                    relevant=True,
                    score=1.0,
                    tags=tags,
                    watched=[],
                    places=[],
                    story_id="s-old",
                )
            ).inserted_primary_key[0]
            conn.execute(
                old["story_keys"]
                .insert()
                .values(key="e:openai:CN:res", published=T0, story_id="s-old", article_id=article_id)
            )
        migrate(engine)

        joined = save(
            engine,
            "https://new.example/1",
            tagged("OpenAI cuts off API traffic from China", providers=("openai",), regions=("CN",)),
            T0 + DAY,
        )
        lifted = save(
            engine,
            "https://new.example/2",
            tagged(
                "OpenAI restores API access in China",
                providers=("openai",),
                regions=("CN",),
                actions=("lift",),
            ),
            T0 + 20 * DAY,
        )

        assert joined.story_id == "s-old"
        story = story_store.get(engine, "s-old")
        assert len(story.outlets) == 2 and story.tags.audience == ()
        assert story_store.get(engine, lifted.story_id).parent_id == "s-old"
    finally:
        engine.dispose()


# --- floors on the labeled corpora ------------------------------------------------------------------

CORPORA = Path(__file__).parent / "corpus"
SPLITS = {
    "articles": [CORPORA / "articles.jsonl"],
    "devset": [CORPORA / "devset.jsonl"],
    "news tune": [CORPORA / "news" / "tune-a.jsonl", CORPORA / "news" / "tune-b.jsonl"],
}


@pytest.fixture(scope="module", params=list(SPLITS))
def scored(request: pytest.FixtureRequest) -> tuple[str, Report]:
    """Each split replayed through detection and story assignment (the holdout only reports)."""
    paths = SPLITS[request.param]
    if not all(p.exists() for p in paths):
        pytest.skip(f"{request.param}: {', '.join(p.name for p in paths)} not there")
    return request.param, evaluate(load_corpora(paths))


def test_with_the_labels_reports_of_one_event_join_and_distinct_events_never_do(scored) -> None:
    """Given the right tags, the story logic joins nearly every pair of reports of one event and no
    pair of distinct events; one alert per event, and every status change names the earlier one."""
    name, report = scored
    for scope, pairs in report.oracle.pairs.items():
        assert pairs.precision >= 0.99, (name, scope)
        assert pairs.recall >= 0.95, (name, scope)
    alerts = report.oracle.alerts
    assert alerts.precision >= 0.9, name
    assert alerts.events_alerted >= 0.97 * alerts.events, name
    assert alerts.updates_named == alerts.updates, name


FLOORS = {  # with the detector's tags: what it reaches today, so that nothing slips back
    "articles": {"pairs": (0.99, 0.85), "alerts": 0.9},
    "devset": {"pairs": (0.99, 0.8), "alerts": 0.87},
    "news tune": {"pairs": (0.98, 0.93), "alerts": 0.85},
}


def test_with_the_detectors_tags_story_and_alert_figures_hold_their_floors(scored) -> None:
    name, report = scored
    precision, recall = FLOORS[name]["pairs"]
    for scope, pairs in report.stories.items():
        assert pairs.precision >= precision, (name, scope)
        assert pairs.recall >= recall, (name, scope)
    assert report.alerts.precision >= FLOORS[name]["alerts"], name
