"""Hugging Face's tokenizer.json: models trained here by `tokenizers` on the bundled corpus give
the same ids through load_hf_tokenizer, and our files give our ids in `tokenizers` and
`transformers`. The normalisers and BERT's split are compared with `tokenizers` on every code
point; the vectorised Viterbi with the plain loop and with `tokenizers`' own Unigram model."""

import base64
import json
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minimal_embed import (
    GPT4_PATTERN,
    Tokenizer,
    UnigramTokenizer,
    WordPieceTokenizer,
    data,
    load_hf_tokenizer,
)
from minimal_embed.tokenizer import normalizers, unigram
from minimal_embed.tokenizer.wordpiece import bert_words

hf = pytest.importorskip("tokenizers")
from tokenizers import decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from tokenizers import normalizers as hf_normalizers  # noqa: E402

EOT = "<|endoftext|>"
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# Characters both Unicode tables agree on: assigned by Unicode 3.2 with the same category today.
# (`tokenizers` carries older Unicode tables than `regex` and Python 3.11's unicodedata; a
# character added since may be classed differently there, so Hypothesis draws from these.)
AGREED = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000
          and unicodedata.ucd_3_2_0.category(chr(c)) == unicodedata.category(chr(c)) != "Cn"]
EMOJI = ["🙂", "👍", "🎉", "😀", "❤️", "🇫🇷", "👩‍💻", "🐍"]
text_like = st.lists(st.one_of(
    st.characters(max_codepoint=0x7F),
    st.sampled_from(list(" \t\n\r\u00a0\u3000  ")),  # whitespace, and runs of it
    st.sampled_from(list("éèêëÉàçñöüßøåæœİΣς") + ["e\u0301", "a\u0308", "c\u0327"]),  # accents
    st.sampled_from(list("中文日本語漢字한국어カタカナ")),  # CJK
    st.sampled_from(EMOJI),
    st.sampled_from(AGREED),
), max_size=40).map("".join)


@pytest.fixture(scope="module")
def corpus():
    return data.corpus_text()


@pytest.fixture(scope="module")
def files(tmp_path_factory, corpus):
    """tokenizer.json files of the three kinds, trained by `tokenizers` on the bundled corpus."""
    folder = tmp_path_factory.mktemp("hf")
    bpe = hf.Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator([corpus], trainers.BpeTrainer(
        vocab_size=700, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    bpe.add_special_tokens([EOT])  # after training: an id above the ordinary ones, as GPT-2's
    bpe.save(str(folder / "bpe.json"))

    bert = hf.Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=30))
    bert.normalizer = hf_normalizers.BertNormalizer(lowercase=True)
    bert.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    bert.decoder = decoders.WordPiece()
    bert.train_from_iterator([corpus], trainers.WordPieceTrainer(
        vocab_size=700, special_tokens=BERT_SPECIALS, show_progress=False))
    bert.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[(t, bert.token_to_id(t)) for t in ("[CLS]", "[SEP]")])
    bert.save(str(folder / "bert.json"))

    t5 = hf.Tokenizer(models.Unigram())
    t5.normalizer = hf_normalizers.NFKC()
    t5.pre_tokenizer = pre_tokenizers.Metaspace()
    t5.decoder = decoders.Metaspace()
    t5.train_from_iterator([corpus[:80_000]], trainers.UnigramTrainer(
        vocab_size=500, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>",
        show_progress=False))
    t5.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
    t5.save(str(folder / "t5.json"))

    # The same Unigram model with byte fallback and no normaliser (as Llama-style files have).
    spec = json.loads((folder / "t5.json").read_text(encoding="utf-8"))
    spec["model"]["vocab"] += [[f"<0x{b:02X}>", -20.0] for b in range(256)]
    spec["model"]["byte_fallback"] = True
    spec["normalizer"] = None
    (folder / "bytes.json").write_text(json.dumps(spec), encoding="utf-8")
    return folder


def pair(files, name):
    """(theirs, ours) for one of the files."""
    path = files / f"{name}.json"
    return hf.Tokenizer.from_file(str(path)), load_hf_tokenizer(path)


# --- the three kinds of file, read -------------------------------------------------------------


def test_load_hf_tokenizer_returns_the_matching_class(files):
    assert type(load_hf_tokenizer(files / "bpe.json")) is Tokenizer
    assert type(load_hf_tokenizer(files / "bert.json")) is WordPieceTokenizer
    assert type(load_hf_tokenizer(files / "t5.json")) is UnigramTokenizer
    assert load_hf_tokenizer(files / "bpe.json") == Tokenizer.from_hf(files / "bpe.json")


@pytest.mark.parametrize("name", ["bpe", "bert", "t5", "bytes"])
def test_ids_equal_hfs_on_the_corpus(files, corpus, name):
    theirs, ours = pair(files, name)
    lines = corpus.splitlines()
    encoded = theirs.encode_batch(lines, add_special_tokens=False)
    assert [ours.encode(line, allowed_special="all") for line in lines] == \
        [e.ids for e in encoded]
    assert ours.encode(corpus[:20_000], allowed_special="all") == \
        theirs.encode(corpus[:20_000], add_special_tokens=False).ids


@settings(max_examples=60)
@given(text=text_like, special=st.sampled_from(["", EOT, "[SEP]", "</s>", "[MASK]"]))
@pytest.mark.parametrize("name", ["bpe", "bert", "t5", "bytes"])
def test_ids_equal_hfs_on_unicode_text(files, name, text, special):
    theirs, ours = pair_cache(files, name)
    if special in ours.special_tokens:
        text = text[: len(text) // 2] + special + text[len(text) // 2 :]
    assert ours.encode(text, allowed_special="all") == \
        theirs.encode(text, add_special_tokens=False).ids
    if name != "bpe":  # the word models' own tokens: [CLS] ... [SEP], ... </s>
        assert ours.encode(text, allowed_special="all", add_special_tokens=True) == \
            theirs.encode(text).ids


_pairs: dict = {}


def pair_cache(files, name):
    """pair(), once per file (Hypothesis calls the test many times)."""
    if (files, name) not in _pairs:
        _pairs[(files, name)] = pair(files, name)
    return _pairs[(files, name)]


@settings(max_examples=40)
@given(first=text_like, second=text_like)
@pytest.mark.parametrize("add", [True, False])
def test_bert_pairs_give_hfs_ids_and_token_type_ids(files, first, second, add):
    theirs, ours = pair_cache(files, "bert")
    expected = theirs.encode(first, second, add_special_tokens=add)
    assert ours.encode_pair(first, second, add_special_tokens=add) == \
        (expected.ids, expected.type_ids)


@settings(max_examples=40)
@given(text=text_like)
def test_word_model_decoding_equals_hfs_decoders(files, text):
    for name in ("bert", "t5"):
        theirs, ours = pair_cache(files, name)
        ids = theirs.encode(text).ids
        assert ours.decode(ids) == theirs.decode(ids, skip_special_tokens=False)


def test_wordpiece_unknowns_and_the_word_length_limit(files):
    theirs, ours = pair_cache(files, "bert")
    unk = ours.vocab["[UNK]"]
    for text in ["a" * 31 + " b", "☃ and ☃☃", "x" * 30]:
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False).ids
    assert ours.encode("a" * 31) == [unk]


@settings(max_examples=80)
@given(text=text_like.filter(lambda t: not t[:1].isspace()))
def test_byte_fallback_unigram_round_trips_text(files, text):
    """With byte fallback and no normaliser every character has tokens, so decode gives the text
    back (Metaspace's decoder drops the one space it put in front, hence no leading space)."""
    _, ours = pair_cache(files, "bytes")
    assert ours.decode(ours.encode(text)) == text


@settings(max_examples=80)
@given(text=text_like)
def test_byte_level_bpe_round_trips_text(files, text):
    _, ours = pair_cache(files, "bpe")
    assert ours.decode(ours.encode(text, disallowed_special=())) == text


def test_all_three_share_the_batch_contract(files, corpus):
    texts = corpus.splitlines()[:7] + [""]
    for name in ("bpe", "bert", "t5"):
        _, ours = pair_cache(files, name)
        ids, mask = ours.encode_batch(texts)
        assert ids.dtype == np.int64 and mask.dtype == bool and ids.shape == mask.shape
        assert ids.shape[1] == len(texts)
        for column, text in enumerate(texts):
            assert ids[:, column][mask[:, column]].tolist() == ours.encode(text)
        first, _ = ours.encode_batch(texts, batch_first=True, max_len=3)
        assert first.shape[0] == len(texts) and first.shape[1] <= 3
        assert all(isinstance(ours.token_bytes(i), bytes) for i in ids[mask].tolist())
        assert ours.split(texts[0])  # the pieces the walkthrough shows


def test_word_models_keep_the_special_token_boundary(files):
    _, ours = pair_cache(files, "bert")
    with pytest.raises(ValueError, match=r"\[SEP\]"):
        ours.encode("a [SEP] b")
    sep = ours.special_tokens["[SEP]"]
    assert sep not in ours.encode("a [SEP] b", disallowed_special=())
    assert sep in ours.encode("a [SEP] b", allowed_special={"[SEP]"})


# --- our files, read by tokenizers and transformers ---------------------------------------------


@pytest.fixture(scope="module")
def ours_trained(corpus):
    return Tokenizer.train(corpus, 700, special_tokens=[EOT, "<|pad|>"])


@pytest.mark.parametrize("pattern", ["gpt2", "gpt4"])
def test_to_hf_files_give_our_ids_in_tokenizers_and_transformers(
        tmp_path, corpus, ours_trained, pattern):
    tok = ours_trained if pattern == "gpt2" else Tokenizer.train(
        corpus[:50_000], 500, pattern=GPT4_PATTERN, special_tokens=[EOT])
    path = tmp_path / "tokenizer.json"
    tok.to_hf(path)
    theirs = hf.Tokenizer.from_file(str(path))
    text = corpus[:30_000] + f" {EOT} 12345 ’tis  \n\n  x"
    assert theirs.encode(text, add_special_tokens=False).ids == tok.encode(
        text, allowed_special="all")
    assert theirs.decode(tok.encode(corpus[:2000]), skip_special_tokens=False) == corpus[:2000]
    assert Tokenizer.from_hf(path) == tok
    transformers = pytest.importorskip("transformers")
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
    assert fast.encode(text, add_special_tokens=False) == tok.encode(text, allowed_special="all")


@settings(max_examples=60)
@given(text=text_like)
def test_to_hf_ids_equal_ours_on_unicode_text(tmp_path_factory, ours_trained, text):
    theirs = _exported(tmp_path_factory, ours_trained)
    assert theirs.encode(text, add_special_tokens=False).ids == ours_trained.encode(
        text, allowed_special="all")


_exports: dict = {}


def _exported(tmp_path_factory, tok):
    if id(tok) not in _exports:
        path = tmp_path_factory.mktemp("export") / "tokenizer.json"
        tok.to_hf(path)
        _exports[id(tok)] = hf.Tokenizer.from_file(str(path))
    return _exports[id(tok)]


def test_gpt2_written_as_tokenizer_json_gives_gpt2s_ids_in_tokenizers(tmp_path, gpt2_ranks_path):
    gpt2 = Tokenizer.from_tiktoken(gpt2_ranks_path, special_tokens={EOT: 50256})
    gpt2.to_hf(tmp_path / "tokenizer.json")
    theirs = hf.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert theirs.encode("I love LLMs").ids == [40, 1842, 27140, 10128]


# --- what is refused, with the reason named ----------------------------------------------------


def edited(files, tmp_path, name, change):
    spec = json.loads((files / f"{name}.json").read_text(encoding="utf-8"))
    change(spec)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "change", "message"), [
    ("bpe", lambda s: s["model"].update(type="WordLevel"), "model type 'WordLevel'"),
    ("t5", lambda s: s.update(normalizer={"type": "Prepend", "prepend": "_"}),
     "normalizer 'Prepend'"),
    ("t5", lambda s: s.update(normalizer={"type": "Precompiled", "precompiled_charsmap": "AA=="}),
     "shorter than its 4-byte header"),
    ("bert", lambda s: s.update(pre_tokenizer={"type": "Whitespace"}), "Whitespace"),
    ("bert", lambda s: s["added_tokens"][4].update(lstrip=True), "lstrip"),
    ("bpe", lambda s: s["model"]["merges"].insert(0, s["model"]["merges"].pop(5)),
     "merge order disagrees"),
    ("bpe", lambda s: s.update(post_processor={"type": "TemplateProcessing"}),
     "post_processor 'TemplateProcessing'"),
    ("bpe", lambda s: s["added_tokens"][0].update(id=0), "among the ordinary ids"),
])
def test_unsupported_files_are_refused_naming_why(files, tmp_path, name, change, message):
    with pytest.raises(ValueError, match=message):
        load_hf_tokenizer(edited(files, tmp_path, name, change))


def test_damaged_files_name_the_file(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_hf_tokenizer(tmp_path)  # a folder means its tokenizer.json
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="'model' object"):
        load_hf_tokenizer(path)
    with pytest.raises(FileNotFoundError):
        load_hf_tokenizer(tmp_path / "missing.json")


# --- the pieces, on every code point ------------------------------------------------------------


def agree_on_every_character(theirs, ours):
    """Run blocks of all AGREED characters through both; return those that differ."""
    differing = []
    for start in range(0, len(AGREED), 8192):
        block = AGREED[start : start + 8192]
        if theirs("|".join(block)) != ours("|".join(block)):
            differing += [c for c in block if theirs(f"a{c}b") != ours(f"a{c}b")]
    return differing


@pytest.mark.parametrize(("ours", "theirs"), [
    (normalizers.BertNormalizer(), hf_normalizers.BertNormalizer()),
    (normalizers.BertNormalizer(lowercase=False),
     hf_normalizers.BertNormalizer(lowercase=False)),
    (normalizers.BertNormalizer(strip_accents=False, clean_text=False),
     hf_normalizers.BertNormalizer(strip_accents=False, clean_text=False)),
    (normalizers.UnicodeForm("NFKC"), hf_normalizers.NFKC()),
    (normalizers.UnicodeForm("NFD"), hf_normalizers.NFD()),
    (normalizers.Lowercase(), hf_normalizers.Lowercase()),
    (normalizers.StripAccents(), hf_normalizers.StripAccents()),
], ids=["bert-uncased", "bert-cased", "bert-plain", "nfkc", "nfd", "lowercase", "strip"])
def test_normalizers_equal_hfs_on_every_character(ours, theirs):
    assert agree_on_every_character(theirs.normalize_str, ours) == []


def test_bert_words_equal_hfs_pre_tokenizer_on_every_character():
    bert = pre_tokenizers.BertPreTokenizer()

    def theirs(text):
        return [word for word, _ in bert.pre_tokenize_str(text)]

    assert agree_on_every_character(theirs, bert_words) == []


def test_lowercasing_is_per_character_like_hfs():
    assert normalizers.lowercase("ΟΔΟΣ") == hf_normalizers.Lowercase().normalize_str("ΟΔΟΣ") \
        == "οδοσ"


# --- the Viterbi search: plain loop, NumPy, and tokenizers' own model ---------------------------

small_vocab = st.lists(
    st.tuples(st.text(alphabet="abc▁", min_size=1, max_size=4),
              st.sampled_from([-1.0, -2.0, -2.5, -3.0])),  # few scores: many ties
    min_size=1, max_size=12, unique_by=lambda piece: piece[0])
words_of_abcx = st.lists(st.text(alphabet="abc▁x", max_size=20), max_size=8)


@settings(max_examples=150)
@given(pieces=small_vocab, words=words_of_abcx)
def test_viterbi_equals_viterbi_plain(pieces, words):
    model = unigram.UnigramModel([("<unk>", 0.0), *pieces], unk_id=0)
    assert unigram.viterbi(words, model) == unigram.viterbi_plain(words, model)


@settings(max_examples=150)
@given(pieces=small_vocab, word=st.text(alphabet="abc▁x", min_size=1, max_size=20))
def test_viterbi_equals_hfs_unigram_model_ties_included(pieces, word):
    vocab = [("<unk>", 0.0), *pieces]
    theirs = hf.Tokenizer(models.Unigram(vocab, unk_id=0))
    ours = UnigramTokenizer(vocab, unk_id=0, prepend_scheme="never", split=False,
                            special_tokens={"<unk>": 0})
    assert ours.encode(word) == theirs.encode(word).ids


def test_long_words_take_the_plain_search_with_the_same_result(files):
    _, ours = pair_cache(files, "t5")
    word = "▁" + "thequickbrownfox" * 10
    assert len(word) > unigram.LONG_WORD
    assert unigram.viterbi([word, "▁the"], ours._model) == \
        unigram.viterbi_plain([word, "▁the"], ours._model)


def test_a_unigram_model_without_unknown_token_refuses_unspellable_text():
    tok = UnigramTokenizer([("▁a", -1.0), ("a", -2.0)], unk_id=None)
    assert tok.encode("aa") == [0, 1]
    with pytest.raises(ValueError, match="no unknown token"):
        tok.encode("ab")


def json_paths(value, path=()):
    """Every path to a value inside a JSON document (dict keys and list indices), small first."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in ("vocab", "merges"):
                yield from json_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            yield from json_paths(item, (*path, index))


@pytest.fixture(scope="module")
def specs(files):
    return {name: json.loads((files / f"{name}.json").read_text(encoding="utf-8"))
            for name in ("bpe", "bert", "t5")}


@settings(max_examples=100)
@given(data=st.data(), name=st.sampled_from(["bpe", "bert", "t5"]),
       value=st.sampled_from([None, 0, -1, 1.5, True, "x", "", [], {}, [1, 2], {"type": "x"}]))
def test_a_damaged_file_loads_or_raises_value_error_naming_it(tmp_path_factory, specs, data,
                                                             name, value):
    spec = json.loads(json.dumps(specs[name]))
    path = data.draw(st.sampled_from(list(json_paths(spec))[1:]))
    holder = spec
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    file = tmp_path_factory.mktemp("damaged") / "tokenizer.json"
    file.write_text(json.dumps(spec), encoding="utf-8")
    try:
        load_hf_tokenizer(file)
    except ValueError as error:
        assert str(file) in str(error)


METASPACE = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
             "split": True}


@settings(max_examples=40)
@given(text=text_like, special=st.sampled_from(["", "</s>"]))
@pytest.mark.parametrize("pre_tokenizer", [
    {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, METASPACE]},  # T5's
    dict(METASPACE, prepend_scheme="first"),
    dict(METASPACE, prepend_scheme="never", split=False),
    {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"}, dict(METASPACE, prepend_scheme="first")]},
], ids=["whitespace-split", "first", "never-unsplit", "whitespace-split-first"])
def test_metaspace_options_equal_hfs(files, tmp_path_factory, pre_tokenizer, text, special):
    key = ("metaspace", json.dumps(pre_tokenizer))
    if key not in _pairs:
        spec = json.loads((files / "t5.json").read_text(encoding="utf-8"))
        spec["pre_tokenizer"] = spec["decoder"] = pre_tokenizer
        spec["decoder"] = dict(METASPACE, prepend_scheme=pre_tokenizer.get("prepend_scheme",
                                                                           "always"))
        path = tmp_path_factory.mktemp("metaspace") / "tokenizer.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        _pairs[key] = (hf.Tokenizer.from_file(str(path)), load_hf_tokenizer(path))
    theirs, ours = _pairs[key]
    text = special + text + special
    assert ours.encode(text, allowed_special="all") == \
        theirs.encode(text, add_special_tokens=False).ids


@settings(max_examples=60)
@given(text=text_like)
def test_a_split_regex_that_skips_text_keeps_it_as_pieces_like_hf(
        files, tmp_path_factory, text):
    """HF's Split (Isolated) keeps the text between matches; findall would drop it."""
    if "split" not in _pairs:
        spec = json.loads((files / "bpe.json").read_text(encoding="utf-8"))
        spec["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": r"\p{L}+"}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False}]}
        path = tmp_path_factory.mktemp("split") / "tokenizer.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        _pairs["split"] = (hf.Tokenizer.from_file(str(path)), load_hf_tokenizer(path))
    theirs, ours = _pairs["split"]
    assert ours.encode(text, disallowed_special=()) == \
        theirs.encode(text, add_special_tokens=False).ids
    assert ours.decode(ours.encode(text, disallowed_special=())) == text


# --- SentencePiece's compiled normalisation rules (T5, ALBERT, mT5) -----------------------------


@pytest.fixture(scope="module")
def charsmap(tmp_path_factory, corpus):
    """The nmt_nfkc rules T5's files carry, from a model trained by `sentencepiece`."""
    spm = pytest.importorskip("sentencepiece")
    folder = tmp_path_factory.mktemp("spm")
    (folder / "corpus.txt").write_text(corpus[:50_000], encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(folder / "corpus.txt"), model_prefix=str(
        folder / "spm"), vocab_size=300, normalization_rule_name="nmt_nfkc", minloglevel=2)
    normalizer_spec = protobuf_field((folder / "spm.model").read_bytes(), 3)
    return protobuf_field(normalizer_spec, 2)  # ModelProto.normalizer_spec.precompiled_charsmap


def protobuf_field(message: bytes, number: int) -> bytes:
    """The first length-delimited field ``number`` of a protobuf message (enough for the test)."""
    def varint(at):
        value = shift = 0
        while True:
            byte = message[at]
            value, shift, at = value | (byte & 0x7F) << shift, shift + 7, at + 1
            if byte < 0x80:
                return value, at
    at = 0
    while at < len(message):
        key, at = varint(at)
        if key & 7 == 0:
            _, at = varint(at)
        elif key & 7 == 2:
            size, at = varint(at)
            if key >> 3 == number:
                return message[at : at + size]
            at += size
        else:
            at += 4 if key & 7 == 5 else 8
    raise AssertionError(f"field {number} not found")


def test_precompiled_equals_hfs_on_every_character(charsmap):
    theirs = hf_normalizers.Precompiled(charsmap)
    assert agree_on_every_character(theirs.normalize_str, normalizers.Precompiled(charsmap)) == []


@settings(max_examples=60)
@given(text=text_like)
def test_precompiled_equals_hfs_on_graphemes_and_text(charsmap, text):
    text = text + "e\u0301\u0302 A\u030a 👩\u200d💻 🇫🇷 ｶﾞ ﬃ ①"
    assert normalizers.Precompiled(charsmap)(text) == \
        hf_normalizers.Precompiled(charsmap).normalize_str(text)


T5_NORMALIZER = [{"type": "Strip", "strip_left": False, "strip_right": True},
                 {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"},
                 {"type": "Replace", "pattern": {"String": "``"}, "content": '"'}]


@settings(max_examples=40)
@given(text=text_like)
def test_a_t5_style_file_with_precompiled_rules_gives_hfs_ids(files, tmp_path_factory, corpus,
                                                              charsmap, text):
    if "t5-precompiled" not in _pairs:
        spec = json.loads((files / "t5.json").read_text(encoding="utf-8"))
        spec["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": "Precompiled",
             "precompiled_charsmap": base64.b64encode(charsmap).decode()}, *T5_NORMALIZER]}
        spec["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"}, METASPACE]}
        path = tmp_path_factory.mktemp("t5") / "tokenizer.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        theirs, ours = hf.Tokenizer.from_file(str(path)), load_hf_tokenizer(path)
        lines = corpus.splitlines()[:500]
        assert [ours.encode(line) for line in lines] == [
            e.ids for e in theirs.encode_batch(lines, add_special_tokens=False)]
        _pairs["t5-precompiled"] = theirs, ours
    theirs, ours = _pairs["t5-precompiled"]
    assert ours.encode(text + " ``x''  ", add_special_tokens=True) == \
        theirs.encode(text + " ``x''  ").ids


@pytest.mark.parametrize("content", ["[" * 100_000 + "]" * 100_000,
                                     '{"model": ' + "9" * 5000 + "}"])
def test_json_nested_too_deeply_or_with_huge_numbers_names_the_file(tmp_path, content):
    path = tmp_path / "tokenizer.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="tokenizer.json: not valid JSON"):
        load_hf_tokenizer(path)
