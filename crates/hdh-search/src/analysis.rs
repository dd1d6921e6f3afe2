//! Text analysers shared by indexing and querying.
//!
//! The tokenizer names carry [`crate::SCHEMA_VERSION`] so that changing an
//! analysis chain (and bumping the version) changes the schema, which makes
//! [`crate::SearchIndex::open_or_create`] rebuild an index built with the old
//! chain.
//!
//! Two filters reimplement tantivy ones faster, with identical output (tested
//! against tantivy's own filters):
//! * [`LowerFold`] = `LowerCaser` then `AsciiFoldingFilter`, in one pass,
//!   with a table for U+0080..U+024F (Latin-1 and Latin Extended, i.e. all
//!   French letters) built from tantivy's filters themselves;
//! * [`CachedStemmer`] = tantivy's `Stemmer`, memoised per thread (a
//!   catalogue's vocabulary is small and repetitive, Snowball is not cheap).

use std::cell::RefCell;
use std::collections::HashMap;
use std::mem;
use std::sync::LazyLock;

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer,
    Stemmer, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer, TokenizerManager,
};

/// Lowercased, ASCII-folded, French Snowball stemming.
pub(crate) const TOK_FR: &str = "hdh_fr_v1";
/// Lowercased, ASCII-folded, English Snowball stemming.
pub(crate) const TOK_EN: &str = "hdh_en_v1";
/// Lowercased, ASCII-folded, no stemming (exact form and fuzzy matching).
pub(crate) const TOK_FOLD: &str = "hdh_fold_v1";
/// The whole value as a single lowercased, ASCII-folded token (identifiers).
pub(crate) const TOK_CODE: &str = "hdh_code_v1";

/// Tokens longer than this (in bytes) are dropped (URLs, hashes, base64…).
const MAX_TOKEN_LEN: usize = 40;

/// Query words that are ignored for matching (but still used for the phrase
/// bonus) unless the query consists only of such words. Folded forms.
const STOP_WORDS: &[&str] = &[
    // French
    "a", "au", "aux", "avec", "ce", "ces", "d", "dans", "de", "des", "du", "en", "et", "l", "la",
    "le", "les", "ou", "par", "pour", "sa", "se", "ses", "son", "sur", "un", "une",
    // English
    "an", "and", "at", "by", "for", "in", "is", "of", "on", "or", "the", "to", "with",
];

pub(crate) fn is_stop_word(folded: &str) -> bool {
    STOP_WORDS.contains(&folded)
}

/// The four analysers. Cloning is cheap (boxed small structs); a clone is
/// needed per use because `TextAnalyzer::token_stream` takes `&mut self`.
#[derive(Clone)]
pub(crate) struct Analyzers {
    pub fr: TextAnalyzer,
    pub en: TextAnalyzer,
    pub fold: TextAnalyzer,
    pub code: TextAnalyzer,
}

impl Analyzers {
    pub(crate) fn new() -> Analyzers {
        let stemmed = |lang: Language| {
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(MAX_TOKEN_LEN))
                .filter(LowerFold)
                .filter(CachedStemmer::new(lang))
                .build()
        };
        Analyzers {
            fr: stemmed(Language::French),
            en: stemmed(Language::English),
            fold: TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(MAX_TOKEN_LEN))
                .filter(LowerFold)
                .build(),
            code: TextAnalyzer::builder(RawTokenizer::default())
                .filter(LowerFold)
                .build(),
        }
    }

    pub(crate) fn register(&self, manager: &TokenizerManager) {
        manager.register(TOK_FR, self.fr.clone());
        manager.register(TOK_EN, self.en.clone());
        manager.register(TOK_FOLD, self.fold.clone());
        manager.register(TOK_CODE, self.code.clone());
    }
}

/// Runs `analyzer` over `text` and returns the token texts.
pub(crate) fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// Runs `analyzer` over a single (already folded) token and returns its
/// analysed form, or the input itself if the analyser produced nothing.
pub(crate) fn one_token(analyzer: &mut TextAnalyzer, token: &str) -> String {
    let mut stream = analyzer.token_stream(token);
    if stream.advance() {
        stream.token().text.clone()
    } else {
        token.to_string()
    }
}

// ---------------------------------------------------------------------------
// LowerFold
// ---------------------------------------------------------------------------

const TABLE_START: u32 = 0x80;
const TABLE_END: u32 = 0x250;

/// tantivy's `LowerCaser` + `AsciiFoldingFilter` applied to one char.
fn tantivy_lower_fold(c: char) -> String {
    let mut analyzer = TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build();
    one_token(&mut analyzer, c.encode_utf8(&mut [0u8; 4]))
}

/// Lowercased and folded forms of U+0080..U+024F, computed by tantivy.
static LOWER_FOLD_TABLE: LazyLock<Vec<String>> = LazyLock::new(|| {
    (TABLE_START..TABLE_END)
        .map(|u| {
            char::from_u32(u)
                .map(tantivy_lower_fold)
                .unwrap_or_default()
        })
        .collect()
});

/// Lowercases and ASCII-folds `text` into `out`; same output as tantivy's
/// `LowerCaser` followed by `AsciiFoldingFilter` (both work char by char).
fn lower_fold(text: &str, out: &mut String) {
    out.clear();
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if (TABLE_START..TABLE_END).contains(&u32::from(c)) {
            out.push_str(&LOWER_FOLD_TABLE[(u32::from(c) - TABLE_START) as usize]);
        } else {
            // Rare in this catalogue (Greek, symbols…): ask tantivy.
            out.push_str(&tantivy_lower_fold(c));
        }
    }
}

/// Token filter: `LowerCaser` + `AsciiFoldingFilter` in one pass.
#[derive(Clone, Copy)]
pub(crate) struct LowerFold;

impl TokenFilter for LowerFold {
    type Tokenizer<T: Tokenizer> = LowerFoldFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> LowerFoldFilter<T> {
        LowerFoldFilter {
            inner: tokenizer,
            buffer: String::new(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct LowerFoldFilter<T> {
    inner: T,
    buffer: String,
}

impl<T: Tokenizer> Tokenizer for LowerFoldFilter<T> {
    type TokenStream<'a> = LowerFoldStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        LowerFoldStream {
            tail: self.inner.token_stream(text),
            buffer: &mut self.buffer,
        }
    }
}

pub(crate) struct LowerFoldStream<'a, S> {
    tail: S,
    buffer: &'a mut String,
}

impl<S: TokenStream> TokenStream for LowerFoldStream<'_, S> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if token.text.is_ascii() {
            token.text.make_ascii_lowercase();
        } else {
            lower_fold(&token.text, self.buffer);
            mem::swap(&mut token.text, self.buffer);
        }
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

// ---------------------------------------------------------------------------
// CachedStemmer
// ---------------------------------------------------------------------------

/// Per-thread stem caches hold at most this many words each.
const STEM_CACHE_MAX: usize = 50_000;

thread_local! {
    static STEMS_FR: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
    static STEMS_EN: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// Token filter: tantivy's Snowball `Stemmer`, memoised per thread.
#[derive(Clone)]
pub(crate) struct CachedStemmer {
    language: Language,
    stemmer: TextAnalyzer,
}

impl CachedStemmer {
    pub(crate) fn new(language: Language) -> CachedStemmer {
        CachedStemmer {
            language,
            stemmer: TextAnalyzer::builder(RawTokenizer::default())
                .filter(Stemmer::new(language))
                .build(),
        }
    }
}

impl TokenFilter for CachedStemmer {
    type Tokenizer<T: Tokenizer> = CachedStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> CachedStemmerFilter<T> {
        CachedStemmerFilter {
            inner: tokenizer,
            config: self,
        }
    }
}

#[derive(Clone)]
pub(crate) struct CachedStemmerFilter<T> {
    inner: T,
    config: CachedStemmer,
}

impl<T: Tokenizer> Tokenizer for CachedStemmerFilter<T> {
    type TokenStream<'a> = CachedStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        CachedStemmerStream {
            tail: self.inner.token_stream(text),
            config: &mut self.config,
        }
    }
}

pub(crate) struct CachedStemmerStream<'a, S> {
    tail: S,
    config: &'a mut CachedStemmer,
}

impl<S: TokenStream> TokenStream for CachedStemmerStream<'_, S> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let cache = match self.config.language {
            Language::French => &STEMS_FR,
            Language::English => &STEMS_EN,
            _ => {
                let stem = one_token(&mut self.config.stemmer, &self.tail.token().text);
                self.tail.token_mut().text = stem;
                return true;
            }
        };
        let stemmer = &mut self.config.stemmer;
        let token = self.tail.token_mut();
        cache.with_borrow_mut(|stems| {
            if let Some(stem) = stems.get(&token.text) {
                token.text.clone_from(stem);
            } else {
                let stem = one_token(stemmer, &token.text);
                if stems.len() >= STEM_CACHE_MAX {
                    stems.clear();
                }
                stems.insert(mem::replace(&mut token.text, stem.clone()), stem);
            }
        });
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &[&str] = &[
        "Médicament DÉLIVRÉ, l'hôpital",
        "Diagnostics principaux du séjour ; DÉCÈS à l'Hôpital, ER_PRS_F, Œdèmes aigus",
        "drugs dispensed by the pharmacies, running costs",
        "x\u{301} Ångström ÆSIR straße ﬁnancement ÉCOLE naïve Noël Ÿ ĲSSEL Ǆ",
        "Σίσυφος ΟΔΥΣΣΕΥΣ Русский текст 東京 ①②③ ½ ™ ²³",
        "13 caractères, 2ème, 1er, n°5, ST MARTIN DE SALLEN",
    ];

    fn reference(lang: Option<Language>) -> TextAnalyzer {
        let base = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_LEN))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter);
        match lang {
            Some(lang) => base.filter(Stemmer::new(lang)).build(),
            None => base.build(),
        }
    }

    #[test]
    fn filters_match_tantivy_filters() {
        let mut a = Analyzers::new();
        for _pass in 0..2 {
            // second pass: answers come from the stem caches
            for text in SAMPLES {
                assert_eq!(
                    tokens(&mut a.fold, text),
                    tokens(&mut reference(None), text)
                );
                assert_eq!(
                    tokens(&mut a.fr, text),
                    tokens(&mut reference(Some(Language::French)), text),
                    "{text}"
                );
                assert_eq!(
                    tokens(&mut a.en, text),
                    tokens(&mut reference(Some(Language::English)), text),
                    "{text}"
                );
            }
        }
        // Every char of the table, and around it.
        for u in 0x20..0x600 {
            if let Some(c) = char::from_u32(u) {
                let mut out = String::new();
                lower_fold(c.encode_utf8(&mut [0u8; 4]), &mut out);
                assert_eq!(out, tantivy_lower_fold(c), "U+{u:04X}");
            }
        }
    }

    #[test]
    fn analysis_chains() {
        let mut a = Analyzers::new();
        assert_eq!(
            tokens(&mut a.fold, "Médicament DÉLIVRÉ, l'hôpital"),
            vec!["medicament", "delivre", "l", "hopital"]
        );
        assert_eq!(
            tokens(&mut a.fr, "médicaments"),
            tokens(&mut a.fr, "Médicament")
        );
        assert_eq!(
            tokens(&mut a.fr, "diagnostics"),
            tokens(&mut a.fr, "diagnostic")
        );
        assert_eq!(tokens(&mut a.en, "drugs"), tokens(&mut a.en, "drug"));
        assert_eq!(tokens(&mut a.code, "ER_PRS_F"), vec!["er_prs_f"]);
        assert_eq!(tokens(&mut a.code, "Évé 12/A"), vec!["eve 12/a"]);
        assert_eq!(
            one_token(&mut a.fr, "medicaments"),
            tokens(&mut a.fr, "médicament")[0]
        );
    }
}
