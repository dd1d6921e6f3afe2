//! Full-text search over the catalogue (datasets, tables, variables and
//! nomenclature codes), built on [tantivy].
//!
//! # Documents
//!
//! A [`SearchDoc`] has a `kind`, a unique `key`, a `group` (the unit of
//! replacement: a dataset id or a nomenclature), a `title`, an optional `code`
//! (an identifier: ICD-10 code, table or variable name), a free `text`
//! (descriptions, labels, French and/or English), a `url`, facets and a
//! `boost`.
//!
//! # Analysis chain
//!
//! Every analysed field uses tantivy's `SimpleTokenizer` (splits on anything
//! that is not alphanumeric, so `ER_PRS_F` gives `er`, `prs`, `f` and
//! `l'hôpital` gives `l`, `hopital`), drops tokens longer than 40 bytes, then
//! lowercases and ASCII-folds (`Décès` → `deces`, `Œdème` → `oedeme`). On top
//! of that:
//!
//! | field       | content                    | extra filter             | used for                       |
//! |-------------|----------------------------|--------------------------|--------------------------------|
//! | `title_fr`  | title                      | French Snowball stemmer  | title matches (weight 1.5)     |
//! | `text_fr`   | title + code + text        | French Snowball stemmer  | main match (1.0), phrase bonus |
//! | `text_en`   | title + code + text        | English Snowball stemmer | English words (0.5)            |
//! | `text_fold` | title + code + text        | none                     | exact form (0.5), typos (0.3)  |
//! | `code`      | code, as one single token  | (raw, lowercased+folded) | exact / prefix identifier      |
//!
//! Lowercasing + folding and stemming are done by two small filters of this
//! crate that give exactly the output of tantivy's `LowerCaser` +
//! `AsciiFoldingFilter` and `Stemmer` (a unit test compares them), faster: a
//! lookup table for Latin letters and a per-thread memo of stems. The same
//! analysers process documents and queries.
//!
//! Facets are indexed as tantivy facets `/name/value` (built with
//! `Facet::from_path`, so a `/` in a value needs no escaping; control
//! characters become spaces); the facet `("kind", kind)` is always added.
//!
//! # Queries and ranking
//!
//! The user text is never parsed with tantivy's query syntax: it is split on
//! whitespace (first [`MAX_QUERY_WORDS`] words) and each word is analysed with
//! the chains above; the query is then built programmatically, so no input can
//! make a search fail.
//!
//! * Every word must match (AND). A word is an OR of: the French stem in
//!   `title_fr` (×1.5) and `text_fr` (×1.0), the English stem in `text_en`
//!   (×0.5), the folded form in `text_fold` (×0.5) and, for alphabetic tokens
//!   of ≥ 5 chars, a fuzzy match in `text_fold` (Levenshtein distance 1, or 2
//!   from 9 chars, transpositions count 1) with a constant score of 0.3.
//!   Exact/stemmed matches therefore always score above typo matches (a
//!   document that matches exactly also matches the fuzzy clause).
//! * Common French/English function words (`de`, `la`, `du`, `the`…) are not
//!   required unless the query consists only of them.
//! * The whole word, normalised like the `code` field, matching a code
//!   exactly adds a constant 25; for words of ≥ 2 chars, being a prefix of a
//!   code (`E11` → `E110`, `E119`) adds a constant 5 and is enough to match.
//!   A word that the tokenizer splits (`ER_PRS_F`) requires each of its
//!   tokens and gets the exact-code bonus.
//! * Words that appear as an adjacent phrase (French stems, in `text_fr`) add
//!   a bonus (BM25 of the phrase ×2).
//! * Scores are BM25 sums; the final score is multiplied by the document's
//!   `boost`. Ties are broken by index order.
//! * Blank text matches all documents (score 1 × boost); filters restrict
//!   results (AND between facet names, OR within a name) without changing
//!   scores.
//!
//! One search runs a single pass with a `(Count, TopDocs, FacetCollector)`
//! collector tuple: `total` and facet counts cover all matching documents,
//! not only the returned page. `limit` is capped to [`MAX_LIMIT`], `offset`
//! to [`MAX_OFFSET`].
//!
//! # Snippets
//!
//! `snippet_html` is the best fragment (≤ ~200 bytes) of `text`, HTML-escaped,
//! with matched words in `<b>…</b>` (French stems first, then English). When
//! nothing in `text` matches (a code or typo match), it is the escaped
//! beginning of `text`.
//!
//! # Concurrency
//!
//! [`SearchIndex`] is cheap to clone and `Send + Sync`. Searches use one
//! shared `IndexReader` (a `Searcher` per query) and never block on writes.
//! Writes go through one lazily created `IndexWriter` behind a mutex (only one
//! writer may exist per index, across processes): the first write takes the
//! directory lock and keeps it until [`SearchIndex::release_writer`] or drop;
//! if another process holds it, writes fail with [`SearchError::Locked`] while
//! reads keep working. After each commit the reader is reloaded, so searches
//! see the new documents immediately (the reader never reloads by itself:
//! call [`SearchIndex::reload`] to see another process's commits). After
//! [`SearchIndex::replace_all`] the segments are merged into one in the
//! background; the reader switches to the merged segment when it is ready.
//! Writes are blocking (seconds for a full rebuild): call them from a
//! blocking context (`spawn_blocking`) in async code.

mod analysis;
mod query;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, FacetCollector, TopDocs};
use tantivy::directory::error::LockError;
use tantivy::directory::{INDEX_WRITER_LOCK, MmapDirectory};
use tantivy::indexer::{LogMergePolicy, NoMergePolicy};
use tantivy::query::{BooleanQuery, Occur, Query};
use tantivy::schema::{
    FAST, Facet, FacetOptions, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    Directory, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher,
    SegmentReader, TantivyDocument, TantivyError, Term,
};

use crate::analysis::{Analyzers, TOK_CODE, TOK_EN, TOK_FOLD, TOK_FR};
pub use crate::query::MAX_QUERY_WORDS;

/// Bumped whenever the schema or an analysis chain changes; it is part of the
/// tokenizer names, so an index built by another version has a different
/// schema and is rebuilt by [`SearchIndex::open_or_create`].
pub const SCHEMA_VERSION: u32 = 1;
/// `SearchQuery::limit` is capped to this.
pub const MAX_LIMIT: usize = 100;
/// `SearchQuery::offset` is capped to this (deep pages cost memory).
pub const MAX_OFFSET: usize = 10_000;
/// Indexing memory budget of the writer (split between its threads).
const WRITER_MEMORY_BUDGET: usize = 50_000_000;
/// `replace_all` reports progress every this many documents.
const PROGRESS_EVERY: usize = 10_000;
/// Separator of the levels in tantivy's encoded facets.
const FACET_SEP: u8 = 0;
/// Maximum snippet length in bytes.
const SNIPPET_MAX_CHARS: usize = 200;

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// What a document describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    Dataset,
    Table,
    Variable,
    Code,
}

impl DocKind {
    /// `"dataset"`, `"table"`, `"variable"` or `"code"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Dataset => "dataset",
            DocKind::Table => "table",
            DocKind::Variable => "variable",
            DocKind::Code => "code",
        }
    }

    /// Inverse of [`DocKind::as_str`] (exact, lowercase).
    pub fn parse(s: &str) -> Option<DocKind> {
        match s {
            "dataset" => Some(DocKind::Dataset),
            "table" => Some(DocKind::Table),
            "variable" => Some(DocKind::Variable),
            "code" => Some(DocKind::Code),
            _ => None,
        }
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A document to index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchDoc {
    pub kind: DocKind,
    /// Unique id of the document, e.g. `variable:snds-dcir/ER_PRS_F/BEN_AMA_COD`.
    pub key: String,
    /// Unit of replacement, e.g. `snds-dcir` or `nomenclature:IR_CIM_V`.
    pub group: String,
    /// E.g. `ER_PRS_F — Table des prestations` or `BEN_AMA_COD`.
    pub title: String,
    /// An identifier matched as a whole token (and also analysed as text).
    pub code: Option<String>,
    /// Descriptions and labels (French and/or English).
    pub text: String,
    /// Returned as is.
    pub url: String,
    /// `(facet name, value)`; a name may repeat. `("kind", kind)` is added.
    pub facets: Vec<(String, String)>,
    /// Multiplies the score; negative or non-finite values count as 0.
    pub boost: f32,
}

/// A search request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    /// Free user text; blank means "everything".
    pub text: String,
    /// `(facet name, value)`: AND between names, OR within a name.
    pub filters: Vec<(String, String)>,
    /// Page size, capped to [`MAX_LIMIT`].
    pub limit: usize,
    /// Page start, capped to [`MAX_OFFSET`].
    pub offset: usize,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            text: String::new(),
            filters: Vec::new(),
            limit: 20,
            offset: 0,
        }
    }
}

impl SearchQuery {
    /// A query for `text` with no filter, the first 20 hits.
    pub fn new(text: impl Into<String>) -> SearchQuery {
        SearchQuery {
            text: text.into(),
            ..SearchQuery::default()
        }
    }

    /// Adds a facet filter.
    pub fn filter(mut self, name: impl Into<String>, value: impl Into<String>) -> SearchQuery {
        self.filters.push((name.into(), value.into()));
        self
    }
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub kind: DocKind,
    pub key: String,
    pub title: String,
    pub code: Option<String>,
    pub url: String,
    pub score: f32,
    /// HTML fragment of `text`: escaped, matches in `<b>…</b>`.
    pub snippet_html: String,
    /// The document's facets, including `("kind", …)`.
    pub facets: Vec<(String, String)>,
}

/// A page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// Number of matching documents.
    pub total: usize,
    pub hits: Vec<SearchHit>,
    /// For each facet name, `(value, count)` over all matching documents,
    /// by count descending then value.
    pub facets: BTreeMap<String, Vec<(String, u64)>>,
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Another `IndexWriter` (normally another process) holds the index lock.
    #[error("search index is locked by another writer (another process?): {0}")]
    Locked(String),
    /// A filter is malformed.
    #[error("invalid search filter {name:?}={value:?}: {reason}")]
    BadFilter {
        name: String,
        value: String,
        reason: &'static str,
    },
    #[error("search index: {context}: {source}")]
    Tantivy {
        context: String,
        #[source]
        source: TantivyError,
    },
    #[error("search index: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A stored document could not be decoded.
    #[error("search index: corrupt stored document: {0}")]
    Corrupt(String),
}

trait Context<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, SearchError>;
}

impl<T> Context<T> for Result<T, TantivyError> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, SearchError> {
        self.map_err(|source| SearchError::Tantivy {
            context: context(),
            source,
        })
    }
}

impl<T> Context<T> for Result<T, std::io::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, SearchError> {
        self.map_err(|source| SearchError::Io {
            context: context(),
            source,
        })
    }
}

// ---------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------

const F_KIND: &str = "kind";
const F_KEY: &str = "key";
const F_GROUP: &str = "group";
const F_TITLE: &str = "title";
const F_TITLE_FR: &str = "title_fr";
const F_TEXT_FR: &str = "text_fr";
const F_TEXT_EN: &str = "text_en";
const F_TEXT_FOLD: &str = "text_fold";
const F_CODE: &str = "code";
const F_TEXT: &str = "text";
const F_URL: &str = "url";
const F_FACET: &str = "facet";
const F_BOOST: &str = "boost";

#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub kind: Field,
    pub key: Field,
    pub group: Field,
    pub title: Field,
    pub title_fr: Field,
    pub text_fr: Field,
    pub text_en: Field,
    pub text_fold: Field,
    pub code: Field,
    pub text: Field,
    pub url: Field,
    pub facet: Field,
    pub boost: Field,
}

fn analysed(tokenizer: &str, record: IndexRecordOption) -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(tokenizer)
            .set_index_option(record),
    )
}

fn build_schema() -> Schema {
    let mut b = Schema::builder();
    b.add_text_field(F_KIND, STRING | STORED);
    b.add_text_field(F_KEY, STRING | STORED);
    b.add_text_field(F_GROUP, STRING | STORED);
    b.add_text_field(F_TITLE, STORED);
    b.add_text_field(F_TITLE_FR, analysed(TOK_FR, IndexRecordOption::WithFreqs));
    b.add_text_field(
        F_TEXT_FR,
        analysed(TOK_FR, IndexRecordOption::WithFreqsAndPositions),
    );
    b.add_text_field(F_TEXT_EN, analysed(TOK_EN, IndexRecordOption::WithFreqs));
    b.add_text_field(
        F_TEXT_FOLD,
        analysed(TOK_FOLD, IndexRecordOption::WithFreqs),
    );
    b.add_text_field(
        F_CODE,
        analysed(TOK_CODE, IndexRecordOption::Basic).set_stored(),
    );
    b.add_text_field(F_TEXT, STORED);
    b.add_text_field(F_URL, STORED);
    b.add_facet_field(F_FACET, FacetOptions::default().set_stored());
    b.add_f64_field(F_BOOST, FAST);
    b.build()
}

impl Fields {
    fn new(schema: &Schema) -> Result<Fields, SearchError> {
        let get = |name: &str| {
            schema
                .get_field(name)
                .context(|| format!("missing field {name:?}"))
        };
        Ok(Fields {
            kind: get(F_KIND)?,
            key: get(F_KEY)?,
            group: get(F_GROUP)?,
            title: get(F_TITLE)?,
            title_fr: get(F_TITLE_FR)?,
            text_fr: get(F_TEXT_FR)?,
            text_en: get(F_TEXT_EN)?,
            text_fold: get(F_TEXT_FOLD)?,
            code: get(F_CODE)?,
            text: get(F_TEXT)?,
            url: get(F_URL)?,
            facet: get(F_FACET)?,
            boost: get(F_BOOST)?,
        })
    }
}

// ---------------------------------------------------------------------------
// The index
// ---------------------------------------------------------------------------

struct Inner {
    index: Index,
    reader: IndexReader,
    writer: Mutex<Option<IndexWriter>>,
    fields: Fields,
    analyzers: Analyzers,
    /// Facet names of the searcher generation `.0`.
    facet_names: RwLock<(u64, Arc<Vec<String>>)>,
    /// Where the index lives (None: in RAM), for messages.
    location: String,
}

/// A full-text index of the catalogue. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

impl fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchIndex")
            .field("location", &self.inner.location)
            .field("doc_count", &self.doc_count())
            .finish()
    }
}

fn is_lock_busy(err: &TantivyError) -> bool {
    matches!(err, TantivyError::LockFailure(LockError::LockBusy, _))
}

/// Removes everything inside `dir` (not `dir` itself).
fn wipe_dir(dir: &Path) -> Result<(), SearchError> {
    let entries =
        std::fs::read_dir(dir).context(|| format!("listing {} to wipe it", dir.display()))?;
    for entry in entries {
        let entry = entry.context(|| format!("listing {} to wipe it", dir.display()))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .context(|| format!("inspecting {}", path.display()))?;
        let removed = if file_type.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            // Already gone (e.g. a temporary file of a finishing merge).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other.context(|| format!("removing {}", path.display()))?,
        }
    }
    Ok(())
}

impl SearchIndex {
    /// A new, empty index in memory.
    pub fn in_ram() -> Result<SearchIndex, SearchError> {
        let index = Index::create_in_ram(build_schema());
        SearchIndex::from_index(index, "in RAM".to_string())
    }

    /// Opens the index in `dir` (created if missing). If `dir` holds an index
    /// with another schema (another [`SCHEMA_VERSION`]) or one that cannot be
    /// opened, its content is wiped and an empty index is created: `dir` must
    /// be dedicated to the index. Fails with [`SearchError::Locked`] if it
    /// must be wiped while another process writes to it.
    pub fn open_or_create(dir: &Path) -> Result<SearchIndex, SearchError> {
        let location = dir.display().to_string();
        std::fs::create_dir_all(dir).context(|| format!("creating {location}"))?;
        let schema = build_schema();
        let mmap = MmapDirectory::open(dir).map_err(|e| SearchError::Tantivy {
            context: format!("opening {location}"),
            source: e.into(),
        })?;
        let exists = Index::exists(&mmap).map_err(|e| SearchError::Tantivy {
            context: format!("reading {location}"),
            source: e.into(),
        })?;
        if exists {
            if let Ok(index) = Index::open(mmap.clone())
                && index.schema() == schema
            {
                return SearchIndex::from_index(index, location);
            }
            // Outdated or unreadable: rebuild, unless someone is writing to it.
            let lock = mmap.acquire_lock(&INDEX_WRITER_LOCK).map_err(|e| match e {
                LockError::LockBusy => SearchError::Locked(format!(
                    "{location} has an outdated schema and must be rebuilt, but another writer \
                     holds it"
                )),
                other => SearchError::Tantivy {
                    context: format!("locking {location} to rebuild it"),
                    source: TantivyError::LockFailure(other, None),
                },
            })?;
            drop(mmap);
            wipe_dir(dir)?;
            drop(lock);
        }
        let mmap = MmapDirectory::open(dir).map_err(|e| SearchError::Tantivy {
            context: format!("opening {location}"),
            source: e.into(),
        })?;
        let index = Index::create(mmap, schema, IndexSettings::default())
            .context(|| format!("creating an index in {location}"))?;
        SearchIndex::from_index(index, location)
    }

    fn from_index(index: Index, location: String) -> Result<SearchIndex, SearchError> {
        let analyzers = Analyzers::new();
        analyzers.register(index.tokenizers());
        let fields = Fields::new(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .context(|| format!("opening a reader on {location}"))?;
        Ok(SearchIndex {
            inner: Arc::new(Inner {
                index,
                reader,
                writer: Mutex::new(None),
                fields,
                analyzers,
                facet_names: RwLock::new((u64::MAX, Arc::new(Vec::new()))),
                location,
            }),
        })
    }

    /// Number of (live) documents visible to searches.
    pub fn doc_count(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }

    /// The payload (stamp) of the last commit, if any. Read from the index's
    /// metadata (for a directory index: what is on disk, which may be newer
    /// than what searches see if another process committed since the last
    /// [`SearchIndex::reload`]).
    pub fn stamp(&self) -> Option<String> {
        self.inner.index.load_metas().ok().and_then(|m| m.payload)
    }

    /// Reloads the reader, to see commits made by another process.
    pub fn reload(&self) -> Result<(), SearchError> {
        self.inner
            .reader
            .reload()
            .context(|| format!("reloading the reader of {}", self.inner.location))
    }

    /// Drops the writer (if any), releasing the index lock and the indexing
    /// memory. The next write creates a new one.
    pub fn release_writer(&self) {
        let mut guard = self.lock_writer();
        *guard = None;
    }

    /// Deletes every document, adds `docs` and commits once with `stamp` as
    /// payload, then compacts the index into one segment. `progress` is called
    /// every 10 000 documents and once at the end with the count so far.
    /// Returns the number of documents added. On error nothing is changed.
    pub fn replace_all(
        &self,
        docs: impl IntoIterator<Item = SearchDoc>,
        stamp: &str,
        progress: &mut dyn FnMut(usize),
    ) -> Result<usize, SearchError> {
        let location = self.inner.location.clone();
        self.with_writer(|inner, writer| {
            // No policy-driven merges while we rebuild; we compact explicitly.
            writer.set_merge_policy(Box::new(NoMergePolicy));
            writer
                .delete_all_documents()
                .context(|| format!("clearing {location}"))?;
            let count = inner.add_docs(writer, docs, progress)?;
            if !count.is_multiple_of(PROGRESS_EVERY) || count == 0 {
                progress(count);
            }
            commit(writer, stamp, &location)?;
            // Compact into one segment in the background: fewer segments make
            // queries (fuzzy ones especially) cheaper. Searches see the
            // committed documents right away and switch to the merged segment
            // when it is ready. A failed merge is harmless.
            if let Ok(ids) = inner.index.searchable_segment_ids()
                && ids.len() > 1
            {
                let merge = writer.merge(&ids);
                let reader = inner.reader.clone();
                let spawned = std::thread::Builder::new()
                    .name("hdh-search-merge".to_string())
                    .spawn(move || {
                        if let Ok(Some(_)) = merge.wait() {
                            let _ = reader.reload();
                        }
                    });
                // Could not spawn a thread: the merge still completes, the
                // reader picks it up at its next reload.
                drop(spawned);
            }
            writer.set_merge_policy(Box::new(LogMergePolicy::default()));
            Ok(count)
        })
    }

    /// Deletes the documents of `group`, adds `docs` and commits once (atomic)
    /// with `stamp` as payload.
    pub fn replace_group(
        &self,
        group: &str,
        docs: Vec<SearchDoc>,
        stamp: &str,
    ) -> Result<(), SearchError> {
        let location = self.inner.location.clone();
        self.with_writer(|inner, writer| {
            writer.delete_term(Term::from_field_text(inner.fields.group, group));
            inner.add_docs(writer, docs, &mut |_| {})?;
            commit(writer, stamp, &location)?;
            Ok(())
        })
    }

    fn lock_writer(&self) -> MutexGuard<'_, Option<IndexWriter>> {
        match self.inner.writer.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                // A write panicked half-way: discard its uncommitted changes.
                let mut guard = poisoned.into_inner();
                if let Some(mut writer) = guard.take() {
                    let _ = writer.rollback();
                }
                self.inner.writer.clear_poison();
                guard
            }
        }
    }

    /// Runs `f` with the (lazily created) writer, then reloads the reader.
    /// On error, uncommitted changes are rolled back and the writer dropped.
    fn with_writer<R>(
        &self,
        f: impl FnOnce(&Inner, &mut IndexWriter) -> Result<R, SearchError>,
    ) -> Result<R, SearchError> {
        let inner = &*self.inner;
        let mut guard = self.lock_writer();
        let writer = match &mut *guard {
            Some(writer) => writer,
            empty => {
                let writer = inner.index.writer(WRITER_MEMORY_BUDGET).map_err(|e| {
                    if is_lock_busy(&e) {
                        SearchError::Locked(format!(
                            "{}: another writer holds the index lock",
                            inner.location
                        ))
                    } else {
                        SearchError::Tantivy {
                            context: format!("creating a writer on {}", inner.location),
                            source: e,
                        }
                    }
                })?;
                empty.insert(writer)
            }
        };
        match f(inner, writer) {
            Ok(r) => {
                self.reload()?;
                Ok(r)
            }
            Err(e) => {
                if let Some(mut writer) = guard.take() {
                    let _ = writer.rollback();
                }
                Err(e)
            }
        }
    }

    /// Runs a search. Never fails on the query text; fails on malformed
    /// filters ([`SearchError::BadFilter`]).
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        let inner = &*self.inner;
        let f = &inner.fields;
        let limit = q.limit.min(MAX_LIMIT);
        let offset = q.offset.min(MAX_OFFSET);
        let searcher = inner.reader.searcher();

        let mut analyzers = inner.analyzers.clone();
        let plan = query::build_text_query(f, &mut analyzers, &q.text);
        let filter = query::build_filter(f, &q.filters)?;
        let full: Box<dyn Query> = match filter {
            None => plan.query,
            Some(filter) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, plan.query),
                (Occur::Must, filter),
            ])),
        };

        let facet_names = inner.facet_names(&searcher)?;
        let mut facet_collector = FacetCollector::for_field(F_FACET);
        for name in facet_names.iter() {
            facet_collector.add_facet(Facet::from_path([name.as_str()]));
        }
        let top = TopDocs::for_doc_range(offset..offset + limit.max(1)).tweak_score(
            |segment: &SegmentReader| {
                let boost = segment
                    .fast_fields()
                    .f64(F_BOOST)
                    .ok()
                    .map(|column| column.first_or_default_col(1.0));
                move |doc, score: f32| match &boost {
                    Some(column) => score * column.get_val(doc) as f32,
                    None => score,
                }
            },
        );
        let (total, top_docs, facet_counts) = searcher
            .search(&*full, &(Count, top, facet_collector))
            .context(|| format!("searching {}", inner.location))?;

        let mut facets = BTreeMap::new();
        for name in facet_names.iter() {
            let mut values: Vec<(String, u64)> = facet_counts
                .get(Facet::from_path([name.as_str()]))
                .filter_map(|(facet, count)| {
                    facet
                        .to_path()
                        .get(1)
                        .map(|value| ((*value).to_string(), count))
                })
                .collect();
            if values.is_empty() {
                continue;
            }
            values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            facets.insert(name.clone(), values);
        }

        let snippets = Snippets::new(inner, plan.snippet_fr, plan.snippet_en);
        let mut hits = Vec::with_capacity(if limit == 0 { 0 } else { top_docs.len() });
        if limit > 0 {
            for (score, address) in top_docs {
                let doc: TantivyDocument = searcher
                    .doc(address)
                    .context(|| format!("reading a document of {}", inner.location))?;
                hits.push(inner.to_hit(&doc, score, &snippets)?);
            }
        }
        Ok(SearchResults {
            total,
            hits,
            facets,
        })
    }
}

fn commit(writer: &mut IndexWriter, stamp: &str, location: &str) -> Result<(), SearchError> {
    let mut prepared = writer
        .prepare_commit()
        .context(|| format!("preparing a commit on {location}"))?;
    prepared.set_payload(stamp);
    prepared
        .commit()
        .context(|| format!("committing to {location}"))?;
    Ok(())
}

fn sanitize_boost(boost: f32) -> f64 {
    if boost.is_finite() && boost > 0.0 {
        f64::from(boost)
    } else {
        0.0
    }
}

impl Inner {
    /// Adds `docs` (analysed by the writer's threads); calls `progress`
    /// every [`PROGRESS_EVERY`] documents. Returns the count.
    fn add_docs(
        &self,
        writer: &IndexWriter,
        docs: impl IntoIterator<Item = SearchDoc>,
        progress: &mut dyn FnMut(usize),
    ) -> Result<usize, SearchError> {
        let mut count = 0usize;
        for doc in docs {
            writer
                .add_document(self.to_tantivy(&doc))
                .context(|| format!("adding a document to {}", self.location))?;
            count += 1;
            if count.is_multiple_of(PROGRESS_EVERY) {
                progress(count);
            }
        }
        Ok(count)
    }

    fn to_tantivy(&self, doc: &SearchDoc) -> TantivyDocument {
        let f = &self.fields;
        let mut d = TantivyDocument::new();
        d.add_text(f.kind, doc.kind.as_str());
        d.add_text(f.key, &doc.key);
        d.add_text(f.group, &doc.group);
        d.add_text(f.title, &doc.title);
        let code = doc.code.as_deref().map(str::trim).filter(|c| !c.is_empty());
        d.add_text(f.title_fr, &doc.title);
        for field in [f.text_fr, f.text_en, f.text_fold] {
            d.add_text(field, &doc.title);
            if let Some(code) = code {
                d.add_text(field, code);
            }
            d.add_text(field, &doc.text);
        }
        if let Some(code) = code {
            d.add_text(f.code, code);
        }
        d.add_text(f.text, &doc.text);
        d.add_text(f.url, &doc.url);
        let mut facets: Vec<(String, String)> = doc
            .facets
            .iter()
            .map(|(n, v)| (query::clean_facet_part(n), query::clean_facet_part(v)))
            .filter(|(n, v)| !n.is_empty() && !v.is_empty())
            .chain(std::iter::once((
                "kind".to_string(),
                doc.kind.as_str().to_string(),
            )))
            .collect();
        facets.sort();
        facets.dedup();
        for (name, value) in &facets {
            d.add_facet(f.facet, Facet::from_path([name.as_str(), value.as_str()]));
        }
        d.add_f64(f.boost, sanitize_boost(doc.boost));
        d
    }

    fn to_hit(
        &self,
        doc: &TantivyDocument,
        score: f32,
        snippets: &Snippets,
    ) -> Result<SearchHit, SearchError> {
        let f = &self.fields;
        let text_of = |field: Field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let kind_str = text_of(f.kind).unwrap_or_default();
        let kind = DocKind::parse(&kind_str)
            .ok_or_else(|| SearchError::Corrupt(format!("unknown kind {kind_str:?}")))?;
        let text = text_of(f.text).unwrap_or_default();
        let facets = doc
            .get_all(f.facet)
            .filter_map(|v| v.as_facet())
            .filter_map(|encoded| {
                let mut parts = encoded.split(FACET_SEP as char);
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(name), Some(value), None) => Some((name.to_string(), value.to_string())),
                    _ => None,
                }
            })
            .collect();
        Ok(SearchHit {
            kind,
            key: text_of(f.key).unwrap_or_default(),
            title: text_of(f.title).unwrap_or_default(),
            code: text_of(f.code),
            url: text_of(f.url).unwrap_or_default(),
            score,
            snippet_html: snippets.html(&text),
            facets,
        })
    }

    /// Top-level facet names present in the searcher's segments (cached per
    /// searcher generation).
    fn facet_names(&self, searcher: &Searcher) -> Result<Arc<Vec<String>>, SearchError> {
        let generation = searcher.generation().generation_id();
        {
            let cache = self
                .facet_names
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if cache.0 == generation {
                return Ok(cache.1.clone());
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for segment in searcher.segment_readers() {
            let inverted = segment
                .inverted_index(self.fields.facet)
                .context(|| format!("reading facets of {}", self.location))?;
            let mut stream = inverted
                .terms()
                .stream()
                .context(|| format!("reading facets of {}", self.location))?;
            while stream.advance() {
                let key = stream.key();
                if !key.is_empty()
                    && !key.contains(&FACET_SEP)
                    && let Ok(name) = std::str::from_utf8(key)
                {
                    names.insert(name.to_string());
                }
            }
        }
        let names = Arc::new(names.into_iter().collect::<Vec<_>>());
        let mut cache = self
            .facet_names
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *cache = (generation, names.clone());
        Ok(names)
    }
}

/// Snippet generators of one query.
struct Snippets {
    generators: Vec<SnippetGenerator>,
}

impl Snippets {
    fn new(
        inner: &Inner,
        fr: BTreeMap<String, tantivy::Score>,
        en: BTreeMap<String, tantivy::Score>,
    ) -> Snippets {
        let mut generators = Vec::new();
        for (terms, analyzer) in [(fr, &inner.analyzers.fr), (en, &inner.analyzers.en)] {
            if !terms.is_empty() {
                generators.push(SnippetGenerator::new(
                    terms,
                    analyzer.clone(),
                    inner.fields.text,
                    SNIPPET_MAX_CHARS,
                ));
            }
        }
        Snippets { generators }
    }

    fn html(&self, text: &str) -> String {
        for generator in &self.generators {
            let snippet = generator.snippet(text);
            if !snippet.is_empty() {
                let range = snippet.fragment_range();
                let mut html = String::with_capacity(SNIPPET_MAX_CHARS + 64);
                if !text[..range.start].trim().is_empty() {
                    html.push('…');
                }
                html.push_str(&snippet.to_html());
                // Fragments end at the last token: keep the punctuation that
                // closes it (`)`, `.`, `»`).
                let tail = &text[range.end..];
                let closing = tail
                    .char_indices()
                    .find(|(_, c)| c.is_alphanumeric() || c.is_whitespace())
                    .map_or(tail.len(), |(i, _)| i);
                html.push_str(&escape_html(&tail[..closing]));
                if !tail[closing..].trim().is_empty() {
                    html.push('…');
                }
                return html;
            }
        }
        let start = truncate_words(text, SNIPPET_MAX_CHARS);
        let mut out = escape_html(start);
        if start.len() < text.trim().len() {
            out.push('…');
        }
        out
    }
}

/// At most `max` bytes of `text`, cut at a char boundary, preferably at a
/// space.
fn truncate_words(text: &str, max: usize) -> &str {
    let text = text.trim();
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &text[..end];
    match cut.rfind(char::is_whitespace) {
        Some(space) if space > max / 2 => cut[..space].trim_end(),
        _ => cut,
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
