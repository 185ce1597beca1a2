"""Detection on news as outlets write it: wire copy, agency Chinese, translations, long bodies with
background, and the near misses that carry the topic's words. Every sentence here is our own."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from newswatch.detect import inflection
from newswatch.detect.classifier import Classifier
from newswatch.detect.evaluation import evaluate, load_corpora
from newswatch.detect.pipeline import Detector
from newswatch.detect.stories import MemoryIndex, Placement, assign
from newswatch.detect.text import normalize
from newswatch.detect.vocabulary import VocabularyError, build, builtin_inflected_words

NEWS = Path(__file__).parent / "corpus" / "news"


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(build())


def _at(day: str, hour: int = 8) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


# --- phrasings the detector used to miss ------------------------------------------------------------


def test_a_wire_report_of_the_azure_openai_cut_off(classifier):
    result = classifier.classify(
        "Microsoft to terminate Azure OpenAI service for individual developers on Chinese mainland",
        "Microsoft will terminate its Azure OpenAI service for individual developers in the Chinese "
        "mainland starting Oct. 21, notices sent to users this week said. Enterprise customers are not "
        "affected and can keep using the service.",
        published=_at("2024-10-18"),
    )
    assert result.relevant
    assert result.tags.providers == ("microsoft", "openai")
    assert result.tags.services == ("azure openai",)
    assert result.tags.regions == ("CN",)
    assert result.tags.actions == ("discontinue",)
    assert result.tags.audience == ("individual-developers",)
    assert result.effective == date(2024, 10, 21)


@pytest.mark.parametrize(
    "title",
    [
        "Microsoft terminated Azure OpenAI access for developers in mainland China",
        "Microsoft is terminating Azure OpenAI for developers in mainland China",
        "Apple withheld Apple Intelligence from the EU",
        "Taiwan has barred DeepSeek from all government agencies",
        "Texas is prohibiting DeepSeek on state-issued phones",
        "Indonesia geoblocked Grok after the deepfake scandal",
    ],
)
def test_inflected_verbs_are_found(classifier, title):
    assert classifier.classify(title).relevant


@pytest.mark.parametrize(
    "place", ["the Chinese mainland", "mainland China", "中国内地", "大陸", "在华", "中国大陆地区"]
)
def test_the_mainland_has_many_names(classifier, place):
    result = classifier.classify(f"OpenAI blocks API traffic from {place}")
    assert result.relevant
    assert result.tags.regions == ("CN",)


def test_agency_chinese_with_the_verb_wrapped_around_the_place(classifier):
    result = classifier.classify(
        "深度求索应用在韩暂停提供",
        "韩联社首尔2月17日电 韩国个人信息保护委员会17日表示，深度求索旗下应用自15日18时起暂时停止在韩国提供，"
        "整改完成后才会恢复。",
        published=_at("2025-02-17", hour=3),
    )
    assert result.relevant
    assert result.tags.regions == ("KR",)
    assert result.tags.actions == ("suspend",)
    assert result.effective == date(2025, 2, 15)


def test_terms_of_service_that_bar_companies_controlled_from_china(classifier):
    result = classifier.classify(
        "Anthropic updates its terms for unsupported regions",
        "Anthropic will no longer sell Claude to companies controlled from unsupported jurisdictions "
        "such as China, whatever country they are registered in.",
    )
    assert result.relevant
    assert result.tags.providers == ("anthropic",)
    assert result.tags.regions == ("CN",)
    assert result.tags.actions == ("restrict",)
    assert result.tags.audience == ("ownership",)


def test_a_traditional_chinese_headline_asking_whether_a_service_enters_china(classifier):
    result = classifier.classify(
        "Apple Intelligence 年內進入中國？阿里巴巴證實合作",
        "國行 iPhone 目前仍無法使用相關功能，仍待監管批准。",
    )
    assert result.relevant
    assert result.tags.regions == ("CN",)
    assert result.tags.actions == ("restrict",)


def test_an_english_translation_of_an_italian_headline(classifier):
    result = classifier.classify(
        "Artificial intelligence: stop to ChatGPT ordered by the privacy guarantor",
        "The Italian guarantor ordered, with immediate effect, the temporary limitation of the "
        "processing of Italian users' data by OpenAI.",
        published=_at("2023-03-31"),
    )
    assert result.relevant
    assert result.tags.regions == ("IT",)
    assert result.effective == date(2023, 3, 31)


# --- shapes that carry the topic's words and must stay silent -------------------------------------


@pytest.mark.parametrize(
    ("title", "text"),
    [
        (
            "DeepSeek not working? 6 ways to fix the 'server busy' error",
            "If DeepSeek says its servers are busy, you are not alone.\n\n"
            "First, check the status page. Some readers in Italy found the app missing from the store "
            "after the regulator's block, so try the web version.\n\nThird, clear the cache.",
        ),
        (
            "ChatGPT 在国内用不了怎么办？三种方法教你继续使用",
            "OpenAI 不支持中国内地用户注册，以下是几种常见做法。\n\n"
            "方法一：使用官方 API。\n\n方法二：选择国产大模型。",
        ),
        (
            "OpenAI disrupts covert influence operations, bans accounts linked to Chinese government",
            "In its latest threat report, OpenAI said it had banned accounts that used ChatGPT to draft "
            "surveillance proposals, some of them traced to China.",
        ),
        (
            "US export rule puts DeepSeek on the entity list and curbs chip sales to China",
            "The Commerce Department's rule restricts exports of advanced chips and model weights.",
        ),
        (
            "EU privacy regulators set up a task force on DeepSeek",
            "The working group will coordinate the national authorities; Italy's ban stays in place.",
        ),
        (
            "Italy fines OpenAI 15 million euros over ChatGPT privacy breaches",
            "The Garante did not order a new block of the chatbot in Italy.",
        ),
        (
            "Samsung restricts its own employees from using DeepSeek in South Korea",
            "The company told staff not to use the chatbot on company devices.",
        ),
        (
            "ChatGPT Plus 代充 稳定直连不封号，OpenAI 封锁国内也能用",
            "新用户送额度，客服微信在线，中转 API 低至五折。",
        ),
        (
            "Azure OpenAI remains available to enterprise customers in China",
            "Microsoft said nothing changes for business customers in the country.",
        ),
    ],
)
def test_off_topic_shapes_stay_silent(classifier, title, text):
    assert not classifier.classify(title, text).relevant


@pytest.mark.parametrize(
    ("title", "text", "regions", "actions"),
    [
        (  # an agency that implies its country
            "Navy tells sailors: don't use DeepSeek",
            "The Navy has told its members not to use the Chinese app DeepSeek on any device.",
            ("US",),
            ("ban",),
        ),
        (
            "Home Affairs orders DeepSeek off all federal government devices",
            "Commonwealth agencies must remove the app from their phones and computers.",
            ("AU",),
            ("ban",),
        ),
        (  # Cantonese negation
            "歐盟用家今年冇 Apple Intelligence 用",
            "Apple 表示，相關功能今年都唔會喺歐盟推出。",
            ("EU",),
            ("restrict",),
        ),
        (  # the negation wraps the place
            "Meta：多模态模型不会向欧盟开放",
            "Meta 表示新模型不会向欧盟的企业提供。",
            ("EU",),
            ("restrict",),
        ),
        (  # a lift worded as an opening
            "Anthropic finally opens Claude to European consumers",
            "Claude is available to people across Europe from today.",
            ("EU",),
            ("lift",),
        ),
        (  # the withholding is dated before the arrival: the news is the arrival
            "Apple's AI features finally work on iPhones in the EU",
            "Apple Intelligence is now available to iPhone owners in the European Union, eight months "
            "after Apple said new competition rules would keep the features out of the bloc.",
            ("EU",),
            ("lift",),
        ),
        (  # the arrival is the contrast: what the headline reports is what stays out
            "Gemma 3 is available in the EU, but Google's image models still won't be",
            "Google said the image-capable models will carry licence terms that leave out the bloc.",
            ("EU",),
            ("restrict",),
        ),
        (  # Chinese says the verb again: a restriction of its own
            "Gemma 3 在欧盟上线，但谷歌的图像模型仍无法使用",
            "谷歌表示，图像模型的许可条款将不包括欧盟。",
            ("EU",),
            ("restrict",),
        ),
        (  # a contrast that denies nothing leaves the arrival the news
            "Claude is now available in Canada, but the company says more features are coming",
            "Anthropic opened Claude to people across Canada from today.",
            ("CA",),
            ("lift",),
        ),
        ("安卡拉法院对 Grok 实施访问禁令", "法院表示禁令即日生效。", ("TR",), ("ban",)),
        (  # a lift after a condition, beside the suspension, is still to come
            "韩国暂停 DeepSeek 新下载，整改后恢复",
            "韩国监管机构表示，DeepSeek 应用暂停在韩国提供下载。",
            ("KR",),
            ("suspend",),
        ),
    ],
)
def test_phrasing_families(classifier, title, text, regions, actions):
    result = classifier.classify(title, text)
    assert result.relevant
    assert result.tags.regions == regions
    assert result.tags.actions == actions


@pytest.mark.parametrize(
    ("title", "text", "regions"),
    [
        (  # a dateline says where the report was filed
            "義大利下令封鎖 DeepSeek",
            "（中央社台北5日綜合外電報導）義大利個資保護機構今天宣布封鎖 DeepSeek。",
            ("IT",),
        ),
        (  # language names in a sentence about languages
            "Bard finally arrives in the EU",
            "Google launched Bard in the European Union. It supports more than 40 languages, including "
            "German, Spanish and Chinese.",
            ("EU",),
        ),
        (  # the country answering a measure
            "China hits back at Australia's DeepSeek ban",
            "China criticized Australia after Canberra banned DeepSeek from government devices.",
            ("AU",),
        ),
        (  # where a restricted service is available
            "国行 iPhone 为何至今用不上 Apple Intelligence？",
            "Apple Intelligence 已经在英国、澳大利亚上线，唯独中国内地迟迟没有时间表。",
            ("CN",),
        ),
        (  # where user data might be handed, and an origin spelled with a hyphen
            "Governor bars DeepSeek from state devices",
            "The governor of Texas banned the app and other Chinese-linked apps from state devices, citing "
            "fears that it could hand user data to Beijing.",
            ("US",),
        ),
        (  # an outlet named after a country, and the second place data may be sent to
            "荷兰禁止公务员使用 DeepSeek",
            "（德国之声中文网）荷兰政府表示，公务员不得在工作中使用 DeepSeek，"
            "用户数据可能被发送至中国与美国的服务器。",
            ("NL",),
        ),
        (  # a sentence opening in an earlier time
            "Gemini arrives in Canada",
            "Google launched Gemini in Canada on Thursday.\n\n去年7月，加拿大与俄罗斯、中国一同被排除在外。",
            ("CA",),
        ),
    ],
)
def test_regions_that_are_not_where_it_happens(classifier, title, text, regions):
    result = classifier.classify(title, text)
    assert result.relevant
    assert result.tags.regions == regions


def test_a_rule_that_also_covers_other_countries_names_them(classifier):
    result = classifier.classify(
        "Anthropic 停止向中资控股企业提供 Claude",
        "Anthropic 宣布即日起停止向中国资本控股的企业提供 Claude 服务。\n\n"
        "公司表示，俄罗斯、伊朗及朝鲜控股的企业亦在限制之列。",
    )
    assert result.tags.regions == ("CN", "IR", "KP", "RU")
    assert result.tags.audience == ("ownership",)


# A round-up written as outlets write them: a lead announcing the list, an entry per country past
# the opening, and a country that has not acted (yet).
GROK_ROUND_UP_EN = (
    "Which governments have blocked Grok so far",
    "xAI's chatbot has been blocked or restricted by a string of governments since the deepfake "
    "scandal broke. Here is where things stand.\n\n"
    "Indonesia: the communications ministry temporarily blocked Grok on Jan. 10, the first country "
    "to do so.\n\n"
    "Malaysia: the regulator restricted access to Grok for local users from Jan. 11.\n\n"
    "The Philippines: telecom operators were ordered to block Grok, effective Jan. 16.\n\n"
    "Britain's media regulator has opened an investigation into X but has not blocked the chatbot.",
)
GROK_ROUND_UP_ZH = (
    "多国相继封锁 Grok，一文看懂各国措施",
    "xAI 旗下聊天机器人 Grok 因被滥用生成深度伪造图像，近日遭多个国家封锁。以下整理各国措施。\n\n"
    "印度尼西亚：通信部 1 月 10 日宣布暂时封锁 Grok。\n\n"
    "马来西亚：通讯委员会自 1 月 11 日起限制当地用户访问 Grok。\n\n"
    "菲律宾：电信主管部门要求运营商封锁 Grok，16 日生效。\n\n"
    "英国：监管机构已对 X 展开调查，但尚未封锁。",
)


@pytest.mark.parametrize(("title", "text"), [GROK_ROUND_UP_EN, GROK_ROUND_UP_ZH])
def test_a_round_up_names_every_country_its_entries_say_acted(classifier, title, text):
    result = classifier.classify(title, text)
    assert result.relevant
    assert result.tags.regions == ("ID", "MY", "PH")  # not Britain, which has not blocked it


@pytest.mark.parametrize(("title", "text"), [GROK_ROUND_UP_EN, GROK_ROUND_UP_ZH])
def test_a_round_up_of_blocks_already_alerted_sends_no_alert(classifier, title, text):
    detector, index = Detector(classifier), MemoryIndex()
    reports = [
        ("Indonesia blocks Grok over deepfakes", "The ministry cut access on Saturday.", "2026-01-10"),
        ("Malaysia restricts access to Grok", "The regulator acted a day after Indonesia.", "2026-01-11"),
        ("菲律宾下令封锁 Grok", "菲律宾电信主管部门要求运营商封锁 Grok。", "2026-01-15"),
    ]
    for number, (headline, body, day) in enumerate(reports):
        _, placement = assign(index, detector.analyze(headline, body)[1], _at(day), f"country-{number}")
        assert placement.alert, headline

    _, placement = assign(index, detector.analyze(title, text)[1], _at("2026-01-17"), "round-up")
    assert placement == Placement(None, alert=False)


def test_one_background_paragraph_does_not_make_a_round_up(classifier):
    result = classifier.classify(
        "Here is a look at Grok's troubles in Indonesia",
        "Indonesia's communications ministry temporarily blocked Grok on Saturday, citing sexualised "
        "deepfakes.\n\nThe ministry said the block would stay until X showed it had working safeguards."
        "\n\nMalaysia's regulator restricted the chatbot a year ago over a similar complaint.",
    )
    assert result.tags.regions == ("ID",)


@pytest.mark.parametrize(
    ("title", "text"),
    [
        (  # the restriction is the occasion; the news is the rivals' offer
            "OpenAI 断供在即，智谱、百度抢推搬家计划",
            "OpenAI 将封锁中国 API 访问的消息传出后，国内厂商迅速推出迁移方案。",
        ),
        ("Publishers sue Perplexity over unauthorized use of articles", "The suit was filed in Tokyo."),
        (  # a deal; the restriction in its lead is of somebody else's services
            "三星 Galaxy AI 中国版改用百度文心",
            "由于 Google 服务无法在大陆使用，三星 AI 功能在中国改由本土业者提供。",
        ),
    ],
)
def test_look_alikes_of_the_new_phrasings_stay_silent(classifier, title, text):
    assert not classifier.classify(title, text).relevant


def test_a_model_launch_whose_background_names_an_old_block_is_not_the_topic(classifier):
    text = (
        "DeepSeek released a new reasoning model on Tuesday, saying it matches rivals on coding tests.\n\n"
        "The start-up's app topped download charts in several countries last month.\n\n"
        "Italy's privacy regulator ordered the app blocked in the country in January."
    )
    assert not classifier.classify("DeepSeek releases a new reasoning model", text).relevant


def test_a_long_body_keeps_the_lead_events_tags(classifier):
    text = (
        "South Korea's privacy regulator said on Monday that DeepSeek had suspended downloads of its app "
        "in the country.\n\n" + "Officials said the review would take weeks. " * 60 + "\n\n"
        "In 2023 Italy blocked ChatGPT, and OpenAI restored access a month later."
    )
    result = classifier.classify("DeepSeek app downloads suspended in South Korea", text)
    assert result.relevant
    assert result.tags.regions == ("KR",)
    assert result.tags.actions == ("suspend",)


# --- audience -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "text", "audience"),
    [
        (
            "Australia bans DeepSeek on all government devices",
            "Public servants must remove the app from work phones.",
            ("government-devices",),
        ),
        (
            "Anthropic stops selling Claude to companies majority-owned from China",
            "The rule covers firms whose parents sit in unsupported regions.",
            ("ownership",),
        ),
        (
            "OpenAI will block API traffic from China",
            "Developers received emails warning that requests would be refused.",
            ("developers",),
        ),
        ("Italy's watchdog blocks DeepSeek", "The app is gone from Italian app stores.", ("consumers",)),
        (
            "微软停止向中国大陆个人开发者提供 Azure OpenAI 服务",
            "企业客户不受影响，可继续使用。",
            ("individual-developers",),
        ),
        (
            "Meta will not offer its multimodal Llama models to EU companies",
            "Enterprise customers and developers in the bloc will not get them.",
            ("developers", "enterprises"),
        ),
    ],
)
def test_audience_is_whom_the_change_hits(classifier, title, text, audience):
    result = classifier.classify(title, text)
    assert result.relevant
    assert result.tags.audience == audience


def test_an_exempted_audience_is_not_an_audience(classifier):
    result = classifier.classify(
        "Microsoft ends Azure OpenAI for individual developers in China",
        "Business customers are not affected, the company said.",
    )
    assert "enterprises" not in result.tags.audience


# --- effective date -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "text", "published", "effective"),
    [
        (
            "OpenAI to block API traffic from China from July 9",
            "The company told developers by email.",
            "2024-06-25",
            date(2024, 7, 9),
        ),
        (
            "OpenAI 向开发者发出通知：7 月 9 日起封锁中国内地 API 流量",
            "IT之家 6 月 25 日消息，多位开发者收到邮件。",
            "2024-06-25",
            date(2024, 7, 9),
        ),
        (
            "通讯委即日起暂时封锁 Grok",
            "（吉隆坡11日讯）大马通讯及多媒体委员会宣布，即日起限制国内用户使用 Grok。",
            "2026-01-11",
            date(2026, 1, 11),
        ),
        (
            "OpenAI to cut off API access in Hong Kong from Jan. 6",
            "Developers were told last week.",
            "2024-12-20",
            date(2025, 1, 6),  # a month and day without a year: the nearest such day
        ),
        (
            "Indonesia temporarily blocks Grok",
            "JAKARTA, Jan 10 (Reuters) - Indonesia on Saturday temporarily blocked access to Grok.",
            "2026-01-10",
            date(2026, 1, 10),
        ),
        (
            "Italy blocks DeepSeek",
            "The Garante said on Thursday that it had ordered the block.\n\n"
            "Back in 2023, OpenAI geo-blocked ChatGPT in Italy from March 31 for a month.",
            "2025-01-30",
            None,  # said on Thursday; the dated block in the background is another event
        ),
        (
            "Italy blocks DeepSeek",
            "SEOUL, Feb. 17 (Yonhap) -- the regulator acted.",
            "2025-02-17",
            None,  # a dateline dates the report, not the change
        ),
    ],
)
def test_the_effective_date(classifier, title, text, published, effective):
    result = Detector(classifier).analyze(title, text, published=_at(published, hour=9))[0]
    assert result.relevant
    assert result.effective == effective


def test_today_is_the_datelines_day(classifier):
    # filed in Rome on the 30th, published when it was already the 31st in Taipei
    result = classifier.classify(
        "義大利下令封鎖DeepSeek",
        "（中央社羅馬30日綜合外電報導）義大利個資保護機構今天宣布，立即封鎖中國聊天機器人 DeepSeek。",
        published=datetime(2025, 1, 30, 18, 40, tzinfo=UTC),
    )
    assert result.relevant
    assert result.effective == date(2025, 1, 30)


def test_without_a_publication_date_there_is_no_effective_date(classifier):
    assert classifier.classify("OpenAI to block API traffic from China from July 9").effective is None


# --- the vocabulary's inflections and frames -------------------------------------------------------


def test_inflections_come_from_the_lemmatizer_not_a_suffix_list():
    assert {"withheld", "withholding", "withholds"} <= set(inflection.word_forms("withhold"))
    assert {"barred", "barring", "bars"} <= set(inflection.word_forms("bar"))
    assert "geoblocked" in inflection.word_forms("geoblock")  # unknown to the dictionary: the model


def test_whole_words_only(classifier):
    vocab = classifier.vocab
    scanned = lambda text: {(m.term.category, m.term.value) for m in vocab.scan(normalize(text))}  # noqa: E731
    assert ("action", "ban") in scanned("italy banned it")
    assert ("action", "ban") not in scanned("a bank in italy")
    assert ("action", "ban") not in scanned("urbane")


def test_frames_wrap_a_place_but_not_a_clause(classifier):
    vocab = classifier.vocab
    found = lambda text: {m.term.value for m in vocab.scan(normalize(text)) if m.term.category == "action"}  # noqa: E731
    assert "discontinue" in found("停止向中国大陆个人开发者提供")
    assert "suspend" in found("暂停在韩国提供服务")
    assert "discontinue" not in found("停止，明年起向中国大陆开发者提供")


def test_an_exact_phrase_is_not_inflected():
    vocab = build({"cues": {"earlier": ["=had once been"]}})
    assert vocab.scan(normalize("it had once been blocked"))
    assert not [m for m in vocab.scan(normalize("it has once been blocked")) if m.term.value == "earlier"]


def test_operators_frames_and_audiences_are_checked():
    with pytest.raises(VocabularyError, match="frame"):
        build({"actions": {"ban": ["…禁止"]}})
    with pytest.raises(VocabularyError, match="unknown audience"):
        build({"audiences": {"robots": ["droids"]}})


def test_the_shipped_word_forms_match_the_vocabulary():
    """word_forms.json is generated: run `python -m newswatch.detect.inflection` after editing the
    vocabulary."""
    shipped = json.loads(Path(inflection.__file__).with_name(inflection.TABLE).read_text(encoding="utf-8"))
    assert shipped == inflection.table_for(builtin_inflected_words())


# --- the news-shaped corpus -----------------------------------------------------------------------


def test_scoring_counts_audience_and_effective_only_where_labeled():
    items = [
        {
            "id": "x1",
            "lang": "en",
            "published": "2024-06-25T05:00:00Z",
            "title": "OpenAI to block API traffic from China from July 9",
            "text": "Developers were told by email.",
            "relevant": True,
            "tags": {
                "providers": ["openai"],
                "services": ["openai api"],
                "regions": ["CN"],
                "actions": ["block"],
                "audience": ["developers"],
            },
            "effective": "2024-07-09",
            "group": None,
        }
    ]
    report = evaluate(items)
    assert (report.tags["audience"].tp, report.effective.tp) == (1, 1)
    del items[0]["effective"], items[0]["tags"]["audience"]
    report = evaluate(items)
    assert (report.tags["audience"].tp, report.effective.tp) == (0, 0)


@pytest.fixture(scope="module")
def tune_report():
    paths = sorted(NEWS.glob("tune-*.jsonl"))
    if not paths:
        pytest.skip("the tune split is not in this checkout")
    return evaluate(load_corpora(paths))


def test_the_tune_split_meets_the_targets(tune_report):
    assert tune_report.relevance.precision >= 0.97
    assert tune_report.relevance.recall >= 0.97


def test_the_tune_splits_tags(tune_report):
    assert tune_report.tags["providers"].f1 >= 0.95
    assert tune_report.tags["regions"].f1 >= 0.93
    assert tune_report.tags["actions"].f1 >= 0.88
    assert tune_report.tags["audience"].f1 >= 0.9
    assert tune_report.effective.f1 >= 0.7
