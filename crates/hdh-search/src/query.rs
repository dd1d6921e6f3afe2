//! Builds tantivy queries programmatically from raw user input (no query
//! syntax is ever interpreted, so no input can make parsing fail).

use std::collections::BTreeMap;

use tantivy::Score;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, FuzzyTermQuery, Occur,
    PhraseQuery, Query, TermQuery,
};
use tantivy::schema::{Facet, IndexRecordOption, Term};

use crate::analysis::{self, Analyzers};
use crate::{Fields, SearchError};

/// At most this many whitespace-separated words of the query are used.
pub const MAX_QUERY_WORDS: usize = 12;
/// At most this many tokens in all (a "word" like `a,b,c,d` has several).
const MAX_QUERY_TOKENS: usize = 16;
/// Longer words are not looked up as codes (identifiers are short; a prefix
/// automaton grows with the length of the word).
const MAX_CODE_LEN: usize = 64;
/// Longer tokens get no typo tolerance (a Levenshtein automaton grows with
/// the length of the word).
const MAX_FUZZY_CHARS: usize = 24;

// Ranking weights (see the crate documentation).
const W_TITLE: Score = 1.5;
const W_TEXT_FR: Score = 1.0;
const W_TEXT_EN: Score = 0.5;
const W_TEXT_EXACT: Score = 0.5;
const W_FUZZY: Score = 0.3;
const W_PHRASE: Score = 2.0;
const SCORE_CODE_EXACT: Score = 25.0;
const SCORE_CODE_PREFIX: Score = 5.0;

/// One analysed token of the query.
struct QueryToken {
    fold: String,
    fr: String,
    en: String,
}

/// A whitespace-separated word of the query.
struct QueryWord {
    /// The word as a whole, normalised like the `code` field (None if empty).
    code: Option<String>,
    tokens: Vec<QueryToken>,
}

/// The query to run plus what the snippet generators need.
pub(crate) struct Plan {
    pub query: Box<dyn Query>,
    /// French-stemmed query terms (for highlighting with the French analyser).
    pub snippet_fr: BTreeMap<String, Score>,
    /// English-stemmed query terms.
    pub snippet_en: BTreeMap<String, Score>,
}

fn analyse(analyzers: &mut Analyzers, text: &str) -> Vec<QueryWord> {
    let mut budget = MAX_QUERY_TOKENS;
    let mut words = Vec::new();
    for word in text.split_whitespace().take(MAX_QUERY_WORDS) {
        if budget == 0 {
            break;
        }
        let trimmed = word.trim_matches(|c: char| !c.is_alphanumeric());
        let code = if trimmed.is_empty() || trimmed.len() > MAX_CODE_LEN {
            None
        } else {
            analysis::tokens(&mut analyzers.code, trimmed)
                .into_iter()
                .next()
                .filter(|c| !c.is_empty())
        };
        let mut fold_tokens = analysis::tokens(&mut analyzers.fold, word);
        fold_tokens.truncate(budget);
        budget -= fold_tokens.len();
        let tokens = fold_tokens
            .into_iter()
            .map(|fold| QueryToken {
                fr: analysis::one_token(&mut analyzers.fr, &fold),
                en: analysis::one_token(&mut analyzers.en, &fold),
                fold,
            })
            .collect();
        words.push(QueryWord { code, tokens });
    }
    words
}

fn term_query(field: tantivy::schema::Field, text: &str, weight: Score) -> Box<dyn Query> {
    let q = TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    );
    if (weight - 1.0).abs() < f32::EPSILON {
        Box::new(q)
    } else {
        Box::new(BoostQuery::new(Box::new(q), weight))
    }
}

/// Typo tolerance: none below 5 chars, 1 edit from 5, 2 edits from 9. Only
/// for purely alphabetic tokens (numbers and codes must not match fuzzily).
fn fuzzy_distance(token: &str) -> Option<u8> {
    if !token.chars().all(char::is_alphabetic) {
        return None;
    }
    match token.chars().count() {
        0..=4 => None,
        5..=8 => Some(1),
        n if n <= MAX_FUZZY_CHARS => Some(2),
        _ => None,
    }
}

/// The alternatives for one token: an OR of the field variants.
fn token_clauses(f: &Fields, t: &QueryToken) -> Vec<(Occur, Box<dyn Query>)> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
        (Occur::Should, term_query(f.title_fr, &t.fr, W_TITLE)),
        (Occur::Should, term_query(f.text_fr, &t.fr, W_TEXT_FR)),
        (Occur::Should, term_query(f.text_en, &t.en, W_TEXT_EN)),
        (
            Occur::Should,
            term_query(f.text_fold, &t.fold, W_TEXT_EXACT),
        ),
    ];
    if let Some(distance) = fuzzy_distance(&t.fold) {
        let fuzzy =
            FuzzyTermQuery::new(Term::from_field_text(f.text_fold, &t.fold), distance, true);
        clauses.push((
            Occur::Should,
            Box::new(BoostQuery::new(Box::new(fuzzy), W_FUZZY)),
        ));
    }
    clauses
}

fn code_exact(f: &Fields, code: &str) -> Box<dyn Query> {
    let q = TermQuery::new(
        Term::from_field_text(f.code, code),
        IndexRecordOption::Basic,
    );
    Box::new(ConstScoreQuery::new(Box::new(q), SCORE_CODE_EXACT))
}

fn code_prefix(f: &Fields, code: &str) -> Option<Box<dyn Query>> {
    if code.chars().count() < 2 {
        return None;
    }
    // A Levenshtein automaton of distance 0 in prefix mode is a plain prefix
    // matcher, with no regex syntax to escape.
    let q = FuzzyTermQuery::new_prefix(Term::from_field_text(f.code, code), 0, false);
    Some(Box::new(ConstScoreQuery::new(
        Box::new(q),
        SCORE_CODE_PREFIX,
    )))
}

/// Builds the text part of the query. Blank text matches every document.
pub(crate) fn build_text_query(f: &Fields, analyzers: &mut Analyzers, text: &str) -> Plan {
    let mut plan = Plan {
        query: Box::new(AllQuery),
        snippet_fr: BTreeMap::new(),
        snippet_en: BTreeMap::new(),
    };
    if text.trim().is_empty() {
        return plan;
    }
    let words = analyse(analyzers, text);
    let only_stop_words = words
        .iter()
        .flat_map(|w| &w.tokens)
        .all(|t| analysis::is_stop_word(&t.fold));
    let is_content = |t: &QueryToken| only_stop_words || !analysis::is_stop_word(&t.fold);

    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for word in &words {
        let content: Vec<&QueryToken> = word.tokens.iter().filter(|t| is_content(t)).collect();
        for t in &content {
            plan.snippet_fr.insert(t.fr.clone(), 1.0);
            plan.snippet_en.insert(t.en.clone(), 1.0);
        }
        match (content.as_slice(), word.tokens.len()) {
            // A single-token word: the token, or the whole word as a code (exact
            // or as a prefix of a longer code: `E11` finds `E110`).
            ([t], 1) => {
                let mut alternatives = token_clauses(f, t);
                if let Some(code) = &word.code {
                    alternatives.push((Occur::Should, code_exact(f, code)));
                    if let Some(prefix) = code_prefix(f, code) {
                        alternatives.push((Occur::Should, prefix));
                    }
                }
                clauses.push((Occur::Must, Box::new(BooleanQuery::new(alternatives))));
            }
            // A word split into several tokens (`ER_PRS_F`, `l'hôpital`): each
            // content token is required; the whole word matching a code exactly
            // is a bonus.
            _ => {
                for t in content {
                    clauses.push((
                        Occur::Must,
                        Box::new(BooleanQuery::new(token_clauses(f, t))),
                    ));
                }
                if let Some(code) = &word.code {
                    clauses.push((Occur::Should, code_exact(f, code)));
                }
            }
        }
    }

    // Phrase bonus: all tokens (stop words included), French-stemmed, adjacent.
    let phrase_terms: Vec<Term> = words
        .iter()
        .flat_map(|w| &w.tokens)
        .map(|t| Term::from_field_text(f.text_fr, &t.fr))
        .collect();
    if phrase_terms.len() >= 2 {
        let phrase = PhraseQuery::new(phrase_terms);
        clauses.push((
            Occur::Should,
            Box::new(BoostQuery::new(Box::new(phrase), W_PHRASE)),
        ));
    }

    plan.query = if clauses.iter().any(|(occur, _)| *occur == Occur::Must) {
        Box::new(BooleanQuery::new(clauses))
    } else {
        // Nothing searchable (punctuation only): match nothing rather than all.
        Box::new(EmptyQuery)
    };
    plan
}

/// Normalises a facet name or value the same way at indexing and filtering.
/// Control characters (including the facet separator `\0`) become spaces.
pub(crate) fn clean_facet_part(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Facet filters: AND between names, OR between values of the same name.
/// The result does not contribute to the score.
pub(crate) fn build_filter(
    f: &Fields,
    filters: &[(String, String)],
) -> Result<Option<Box<dyn Query>>, SearchError> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in filters {
        let bad = |reason: &'static str| SearchError::BadFilter {
            name: name.clone(),
            value: value.clone(),
            reason,
        };
        if name.chars().chain(value.chars()).any(char::is_control) {
            return Err(bad("control character in facet name or value"));
        }
        let n = clean_facet_part(name);
        let v = clean_facet_part(value);
        if n.is_empty() {
            return Err(bad("empty facet name"));
        }
        if v.is_empty() {
            return Err(bad("empty facet value"));
        }
        by_name.entry(n).or_default().push(v);
    }
    let musts: Vec<Box<dyn Query>> = by_name
        .into_iter()
        .map(|(name, values)| {
            let shoulds: Vec<Box<dyn Query>> = values
                .iter()
                .map(|v| {
                    let facet = Facet::from_path([name.as_str(), v.as_str()]);
                    Box::new(TermQuery::new(
                        Term::from_facet(f.facet, &facet),
                        IndexRecordOption::Basic,
                    )) as Box<dyn Query>
                })
                .collect();
            Box::new(BooleanQuery::union(shoulds)) as Box<dyn Query>
        })
        .collect();
    Ok(Some(Box::new(ConstScoreQuery::new(
        Box::new(BooleanQuery::intersection(musts)),
        0.0,
    ))))
}
