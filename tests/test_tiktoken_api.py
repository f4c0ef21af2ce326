"""tiktoken's names on our Tokenizer, with tiktoken's meaning: each call compared with tiktoken's
own Encoding built from the same ranks, pattern and special tokens; surrogate pairs repaired as
tiktoken does; and where we stay stricter on purpose."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minimal_embed.tokenizer.checks import repair_surrogates

EOT = "<|endoftext|>"  # `tok` (conftest.py) has it and "<|pad|>" as special tokens

tiktoken = pytest.importorskip("tiktoken")

surrogate_text = st.lists(st.one_of(
    st.sampled_from(["\ud83d", "\udc4d", "\ud83d\udc4d", "\udbff\udfff", "\ud800"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=3),
), max_size=12).map("".join)


@pytest.fixture(scope="module")
def theirs(tok):
    return tiktoken.Encoding("ours", pat_str=tok.pattern, mergeable_ranks=tok.ranks,
                             special_tokens=tok.special_tokens)


def repaired_by_hand(text: str) -> str:
    """The reference: join each high+low surrogate into its code point; a lone one is U+FFFD."""
    out, i = [], 0
    while i < len(text):
        high, low = text[i], text[i + 1 : i + 2]
        if "\ud800" <= high < "\udc00" and "\udc00" <= low < "\ue000":
            out.append(chr(0x10000 + ((ord(high) - 0xD800) << 10) + ord(low) - 0xDC00))
            i += 2
        else:
            out.append("\ufffd" if "\ud800" <= high < "\ue000" else high)
            i += 1
    return "".join(out)


@settings(max_examples=200)
@given(text=surrogate_text)
def test_surrogate_pairs_become_their_character_and_lone_ones_u_fffd(tok, theirs, text):
    assert repair_surrogates(text) == repaired_by_hand(text)
    assert tok.encode(text) == tok.encode(repaired_by_hand(text)) == theirs.encode(text)
    assert tok.encode_ordinary(text) == theirs.encode_ordinary(text)


def test_a_surrogate_pair_encodes_as_the_emoji_it_stands_for(tok):
    assert tok.encode("\ud83d\udc4d") == tok.encode("👍")
    assert tok.decode(tok.encode("a\ud83d\udc4d\ud83d")) == "a👍\ufffd"
    ids, spans = tok.encode_with_offsets("a\ud83d\udc4db")
    assert ids == tok.encode("a👍b") and spans[0] == (0, 1) and spans[-1] == (3, 4)


def test_batch_calls_equal_tiktokens(tok, theirs):
    texts = ["hello world", "", f"a{EOT}b", "naïve café 🙂"]
    assert tok.encode_ordinary_batch(texts) == theirs.encode_ordinary_batch(texts)
    batch = [tok.encode(t, allowed_special="all") for t in texts]
    assert batch == theirs.encode_batch(texts, allowed_special="all")
    assert tok.decode_batch(batch) == theirs.decode_batch(batch)
    assert tok.decode_batch([[0xE2], [104]], errors="ignore") == ["", "h"]
    with pytest.raises(TypeError, match="wrap it"):
        tok.encode_ordinary_batch("one text")


def test_encode_batch_takes_allowed_and_disallowed_special(tok):
    texts = [f"a{EOT}", "b"]
    with pytest.raises(ValueError, match="special token"):
        tok.encode_batch(texts)
    plain, _ = tok.encode_batch(texts, disallowed_special=())
    assert tok.special_tokens[EOT] not in plain
    ids, mask = tok.encode_batch(texts, allowed_special={EOT})
    assert ids[:, 0][mask[:, 0]].tolist() == tok.encode(texts[0], allowed_special="all")


def test_single_tokens_and_their_bytes_equal_tiktokens(tok, theirs):
    for token in [b" the", b"a", EOT, "<|pad|>", "e"]:
        assert tok.encode_single_token(token) == theirs.encode_single_token(token)
    ids = tok.encode("hello there " + EOT, allowed_special="all")
    assert tok.decode_tokens_bytes(ids) == theirs.decode_tokens_bytes(ids)
    assert tok.decode_tokens_bytes(np.array(ids)) == theirs.decode_tokens_bytes(ids)
    with pytest.raises(KeyError, match="not one token"):
        tok.encode_single_token("hello there")
    with pytest.raises(TypeError, match="str or bytes"):
        tok.encode_single_token(42)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.decode_tokens_bytes([tok.vocab_size])


def test_vocabulary_properties_equal_tiktokens(tok, theirs):
    assert tok.n_vocab == theirs.n_vocab == tok.vocab_size
    assert tok.eot_token == theirs.eot_token
    assert tok.special_tokens_set == theirs.special_tokens_set


def test_eot_token_of_a_tokenizer_without_one_raises_key_error():
    from minimal_embed import Tokenizer

    with pytest.raises(KeyError, match="no '<\\|endoftext\\|>'"):
        _ = Tokenizer.train("ab", 256).eot_token


def test_decode_errors_are_pythons_handlers(tok, theirs):
    broken = [0xE2, 0x82]  # half of "€": single bytes are ids 0..255 in a trained tokenizer
    for errors in ["replace", "ignore", "backslashreplace", "surrogateescape"]:
        assert tok.decode(broken, errors=errors) == theirs.decode(broken, errors=errors)
    with pytest.raises(UnicodeDecodeError):
        tok.decode(broken, errors="strict")
    with pytest.raises(ValueError, match="errors must be one of"):
        tok.decode(broken, errors="bogus")


def test_stricter_than_tiktoken_an_unknown_special_name_raises(tok, theirs):
    # tiktoken ignores a name that is not one of its special tokens; we refuse it, so a
    # misspelt allowed token is noticed instead of silently encoding its text as plain text.
    assert theirs.encode("x", allowed_special={"<|endoftxt|>"}) == tok.encode("x")
    with pytest.raises(ValueError, match="not special tokens"):
        tok.encode("x", allowed_special={"<|endoftxt|>"})
