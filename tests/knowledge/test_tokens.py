"""The tokeniser: Chinese words (jieba), English words, character grams, stop words."""

from __future__ import annotations

from cti.knowledge.tokens import Tokeniser, language_of, normalise


def test_chinese_is_cut_into_words_and_their_parts(tokeniser: Tokeniser) -> None:
    words = tokeniser.words("我想修改收货地址")
    assert {"修改", "收货", "地址", "收货地址"} <= set(words)
    assert "我" not in words and "想" not in words  # stop words


def test_service_words_stay_whole(tokeniser: Tokeniser) -> None:
    assert "没收到" in tokeniser.words("快递显示签收但我没收到")
    assert "到账" in tokeniser.words("退款多久到账")


def test_english_is_lower_cased_and_split_without_stemming(tokeniser: Tokeniser) -> None:
    assert tokeniser.words("Where is my PARCEL, please?") == ["parcel"]
    assert tokeniser.words("refunds refunded") == ["refunds", "refunded"]


def test_full_width_text_reads_as_ascii() -> None:
    assert normalise("ＲＥＦＵＮＤ１２３") == "refund123"


def test_numbers_and_punctuation_are_not_words(tokeniser: Tokeniser) -> None:
    assert tokeniser.words("订单 12345678 ！！！ 13800138000 ...") == ["订单"]


def test_mixed_language_keeps_both_sides(tokeniser: Tokeniser) -> None:
    words = tokeniser.words("我的order还没到")
    assert "order" in words and "没到" in words


def test_grams_are_chinese_bigrams_and_padded_english_trigrams(tokeniser: Tokeniser) -> None:
    grams = tokeniser.tokens("改地址 pwd").grams
    assert grams == ["改地", "地址", "#pw", "pwd", "wd#"]


def test_a_typo_still_shares_most_grams_with_the_word(tokeniser: Tokeniser) -> None:
    right = set(tokeniser.tokens("password").grams)
    typo = set(tokeniser.tokens("pasword").grams)
    assert len(right & typo) >= len(typo) - 2


def test_a_lone_chinese_character_is_its_own_gram(tokeniser: Tokeniser) -> None:
    assert tokeniser.tokens("退").grams == ["退"]


def test_empty_and_symbol_only_text_gives_no_tokens(tokeniser: Tokeniser) -> None:
    for text in ("", "   ", "🙂🙂", "???", "\x00\u200b"):
        tokens = tokeniser.tokens(text)
        assert tokens.words == [] and tokens.grams == []


def test_the_segmenter_is_a_parameter() -> None:
    tokeniser = Tokeniser(lambda run: list(run))  # one character per word
    assert tokeniser.words("发票") == ["发", "票"]


def test_language_is_chinese_with_any_chinese_character() -> None:
    assert language_of("我的 order") == "zh"
    assert language_of("where is my order") == "en"
    assert language_of("12345678", default="en") == "en"
    assert language_of("🙂") is None


def test_very_long_text_is_cut(tokeniser: Tokeniser) -> None:
    assert len(tokeniser.words("refund " * 10_000)) <= 2000
