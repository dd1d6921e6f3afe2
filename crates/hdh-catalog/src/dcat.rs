//! The catalogue as RDF: a [HealthDCAT-AP] export (the EHDS health profile of
//! DCAT-AP 3), built as an [`oxrdf::Graph`] and written as Turtle or JSON-LD for
//! harvesting by European catalogues (data.europa.eu, piveau).
//!
//! No I/O: [`catalog_graph`] and [`dataset_graph`] build graphs from values the
//! caller hands in, [`serialize`] writes them. Every literal goes through oxrdf
//! and the oxttl/oxjsonld serialisers, so quotes, new lines and `<` in French
//! text are escaped by the libraries, never by string concatenation.
//!
//! The graphs are self-contained for SHACL validation *without inference*: every
//! IRI used as a value of a property whose DCAT-AP 3 shape requires a class is
//! typed in the graph itself, as the HealthDCAT-AP example does
//! (`<…/frequency/ANNUAL> a dct:Frequency`, `<…/country/FRA> a dct:Location`,
//! `<…/access-right/NON_PUBLIC> a dct:RightsStatement`, the dataset-type and
//! data-theme concepts `a skos:Concept` with a `skos:prefLabel`, access and
//! download URLs `a rdfs:Resource`, landing pages `a foaf:Document`, the EHDS
//! regulation `a eli:LegalResource`, …). `tests/dcat/validate.sh` checks the
//! output against the official DCAT-AP 3 shapes with pyshacl.
//!
//! Choices worth knowing:
//! * The dataset IRI is also its landing page (`{base}/catalogue/datasets/{id}`),
//!   so that node is both a `dcat:Dataset` and a `foaf:Document`.
//! * Distributions: `#distribution-workspace` (the data: reached only through
//!   the secure workspace, `dcat:accessURL` = the access request desk, format
//!   Parquet) and `#distribution-ttl` / `#distribution-jsonld` (this metadata
//!   record, `dcat:downloadURL` = the dataset's `.ttl` / `.jsonld`).
//! * Tables are `csvw:Table` nodes at their page's URL, linked with
//!   `dct:relation` (a DCAT-AP 3 property whose shape only asks for a resource),
//!   with `csvw:name`, `dct:title` and `dct:isPartOf` the dataset. `adms:sample`
//!   (HealthDCAT-AP's example) would make them distributions, which they are not.
//! * Free-text legal basis and purpose become `dpv:LegalBasis` / `dpv:Purpose`
//!   blank nodes with an `rdfs:label` per language; quality notes become
//!   `dqv:QualityAnnotation`s with an `oa:TextualBody` per language.
//! * Blank-node labels are numbered in build order and triples are sorted before
//!   writing, so the same input always gives the same bytes (cacheable, ETag).
//!
//! [HealthDCAT-AP]: https://healthdataeu.pages.code.europa.eu/healthdcat-ap/

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use oxjsonld::JsonLdSerializer;
use oxrdf::vocab::{rdf, rdfs, xsd};
use oxrdf::{
    BlankNode, Graph, GraphNameRef, Literal, NamedNode, NamedNodeRef, NamedOrBlankNode,
    NamedOrBlankNodeRef, Term, Triple, TripleRef,
};
use oxttl::TurtleSerializer;

use crate::metadata::{
    Agent, ContactPoint, DATA_THEMES, DatasetMetadata, Localized, Period, coding_system, theme_uri,
};
use crate::stats::VersionStatistics;

/// What the catalogue says about itself (`dcat:Catalog`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogInfo {
    /// The hub's public base URL, e.g. `http://127.0.0.1:8080`: an absolute
    /// http(s) URL (a trailing `/` is ignored).
    pub base_url: String,
    pub title: Localized,
    pub description: Localized,
    /// The organisation running the hub; also the dataset publisher when a
    /// dataset's own publisher has no name, and the contact point of last resort.
    pub publisher: Agent,
    /// The hub's home page (`foaf:homepage`); skipped when not an absolute IRI.
    pub homepage: String,
    pub modified: Option<DateTime<Utc>>,
}

/// One dataset of the catalogue with what the hub knows about its data.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetEntry {
    /// URL-safe id, e.g. `snds-dcir` (percent-encoded in IRIs all the same).
    pub id: String,
    pub metadata: DatasetMetadata,
    pub issued: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    /// Published data versions, oldest first; empty for a described-only dataset.
    pub versions: Vec<VersionEntry>,
    /// Statistics of the latest version (records, individuals, period covered).
    pub stats: Option<VersionStatistics>,
    pub tables: Vec<TableEntry>,
}

/// A published version of a dataset's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionEntry {
    pub version: i64,
    pub published_at: DateTime<Utc>,
    pub records: u64,
}

/// A table of a dataset (described as a `csvw:Table`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableEntry {
    pub name: String,
    pub title: String,
    pub variables: usize,
}

/// One page of the catalogue (Hydra paging for harvesters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based.
    pub number: usize,
    /// Datasets per page (0 is read as 1).
    pub size: usize,
    /// Datasets in the whole catalogue.
    pub total_datasets: usize,
}

impl Page {
    /// The number of the last page (1 for an empty catalogue).
    pub fn last(&self) -> usize {
        self.total_datasets.div_ceil(self.size.max(1)).max(1)
    }
}

/// The serialisations the hub serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RdfFormat {
    Turtle,
    JsonLd,
}

impl RdfFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            RdfFormat::Turtle => "text/turtle",
            RdfFormat::JsonLd => "application/ld+json",
        }
    }
    /// The file extension, without the dot: `ttl`, `jsonld`.
    pub fn extension(self) -> &'static str {
        match self {
            RdfFormat::Turtle => "ttl",
            RdfFormat::JsonLd => "jsonld",
        }
    }
    /// The format of an extension (`ttl`, `jsonld`), without the dot.
    pub fn from_extension(ext: &str) -> Option<RdfFormat> {
        match ext {
            "ttl" => Some(RdfFormat::Turtle),
            "jsonld" => Some(RdfFormat::JsonLd),
            _ => None,
        }
    }
}

/// The prefixes written in Turtle and in the JSON-LD `@context`.
pub const PREFIXES: [(&str, &str); 20] = [
    ("adms", ADMS),
    ("csvw", CSVW),
    ("dcat", DCAT),
    ("dcatap", DCATAP),
    ("dct", DCT),
    ("dpv", DPV),
    ("dqv", DQV),
    ("eli", ELI),
    ("foaf", FOAF),
    ("healthdcatap", HEALTH),
    ("hydra", HYDRA),
    ("oa", OA),
    ("owl", OWL),
    ("rdf", RDF),
    ("rdfs", RDFS),
    ("skos", SKOS),
    ("vcard", VCARD),
    ("xsd", XSD),
    ("dataset-type", EU_DATASET_TYPE),
    ("eu-theme", EU_THEME),
];

const ADMS: &str = "http://www.w3.org/ns/adms#";
const CSVW: &str = "http://www.w3.org/ns/csvw#";
const DCAT: &str = "http://www.w3.org/ns/dcat#";
const DCATAP: &str = "http://data.europa.eu/r5r/";
const DCT: &str = "http://purl.org/dc/terms/";
const DPV: &str = "https://w3id.org/dpv#";
const DQV: &str = "http://www.w3.org/ns/dqv#";
const ELI: &str = "http://data.europa.eu/eli/ontology#";
const FOAF: &str = "http://xmlns.com/foaf/0.1/";
const HEALTH: &str = "http://healthdataportal.eu/ns/health#";
const HYDRA: &str = "http://www.w3.org/ns/hydra/core#";
const OA: &str = "http://www.w3.org/ns/oa#";
const OWL: &str = "http://www.w3.org/2002/07/owl#";
const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const RDFS: &str = "http://www.w3.org/2000/01/rdf-schema#";
const SKOS: &str = "http://www.w3.org/2004/02/skos/core#";
const VCARD: &str = "http://www.w3.org/2006/vcard/ns#";
const XSD: &str = "http://www.w3.org/2001/XMLSchema#";

const EU_AUTHORITY: &str = "http://publications.europa.eu/resource/authority/";
const EU_DATASET_TYPE: &str = "http://publications.europa.eu/resource/authority/dataset-type/";
const EU_THEME: &str = "http://publications.europa.eu/resource/authority/data-theme/";

/// The European Health Data Space regulation, (EU) 2025/327
/// (`dcatap:applicableLegislation` of every dataset and its data distribution).
pub const EHDS_REGULATION: &str = "http://data.europa.eu/eli/reg/2025/327/oj";

/// `{base}/catalogue`: the catalogue's IRI (and its HTML page).
pub fn catalog_uri(base_url: &str) -> String {
    format!("{}/catalogue", base(base_url))
}

/// `{base}/catalogue/datasets/{id}`: the dataset's IRI and landing page.
pub fn dataset_uri(base_url: &str, id: &str) -> String {
    format!("{}/catalogue/datasets/{}", base(base_url), segment(id))
}

/// `{base}/catalogue/datasets/{id}/tables/{table}`: a table's page.
pub fn table_uri(base_url: &str, id: &str, table: &str) -> String {
    format!("{}/tables/{}", dataset_uri(base_url, id), segment(table))
}

/// `{base}/catalogue/datasets/{id}.{ext}`: the dataset's RDF record.
pub fn dataset_rdf_url(base_url: &str, id: &str, format: RdfFormat) -> String {
    format!("{}.{}", dataset_uri(base_url, id), format.extension())
}

/// `{base}/catalogue.ttl?page={n}`: a page of the catalogue in Turtle.
pub fn catalog_page_url(base_url: &str, page: usize) -> String {
    format!("{}/catalogue.ttl?page={page}", base(base_url))
}

/// `{base}/api/catalogue/datasets/{id}`: the dataset in the JSON API.
pub fn dataset_api_url(base_url: &str, id: &str) -> String {
    format!("{}/api/catalogue/datasets/{}", base(base_url), segment(id))
}

/// `{base}/requests/new?dataset={id}`: the access request desk for the dataset.
pub fn access_request_url(base_url: &str, id: &str) -> String {
    format!("{}/requests/new?dataset={}", base(base_url), segment(id))
}

fn base(base_url: &str) -> &str {
    base_url.trim().trim_end_matches('/')
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
/// Percent-encodes a URL path segment or query value (all but
/// `A-Za-z0-9-._~`).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The whole catalogue (or one page of it): the `dcat:Catalog`, every dataset
/// of `datasets` described in full, and, with `page`, a
/// `hydra:PartialCollectionView` whose `hydra:first`/`previous`/`next`/`last`
/// point to `{base}/catalogue.ttl?page=N` and whose `hydra:totalItems` is
/// `page.total_datasets` (what piveau's importer follows).
pub fn catalog_graph(info: &CatalogInfo, datasets: &[DatasetEntry], page: Option<&Page>) -> Graph {
    let mut b = Builder::new(info);
    let catalog = b.catalog();
    for d in datasets {
        let ds = b.dataset(d);
        b.add(&catalog, dcat("dataset"), ds);
    }
    if let Some(page) = page {
        b.paging(&catalog, page);
    }
    b.graph
}

/// One dataset's record, as served at `{base}/catalogue/datasets/{id}.ttl`.
pub fn dataset_graph(info: &CatalogInfo, dataset: &DatasetEntry) -> Graph {
    let mut b = Builder::new(info);
    b.dataset(dataset);
    b.graph
}

/// Writes a graph as Turtle (with the [`PREFIXES`]) or JSON-LD (the prefixes in
/// its `@context`, full IRIs as keys). Triples are sorted first (typing triples
/// first within a subject) so the output is deterministic.
pub fn serialize(graph: &Graph, format: RdfFormat) -> String {
    let mut triples: Vec<TripleRef<'_>> = graph.iter().collect();
    triples.sort_by_cached_key(|t| {
        let (blank, subject) = match t.subject {
            NamedOrBlankNodeRef::NamedNode(n) => (false, n.as_str().to_string()),
            NamedOrBlankNodeRef::BlankNode(b) => (true, b.as_str().to_string()),
        };
        // Blank nodes are numbered `bN`: order them by length then text.
        (
            blank,
            if blank { subject.len() } else { 0 },
            subject,
            t.predicate != rdf::TYPE,
            t.predicate.as_str().to_string(),
            t.object.to_string(),
        )
    });
    let bytes = match format {
        RdfFormat::Turtle => {
            let mut serializer = TurtleSerializer::new();
            for (prefix, iri) in PREFIXES {
                serializer = serializer
                    .with_prefix(prefix, iri)
                    .expect("the prefixes are valid IRIs");
            }
            let mut writer = serializer.for_writer(Vec::new());
            for t in triples {
                writer
                    .serialize_triple(t)
                    .expect("writing to memory does not fail");
            }
            writer.finish().expect("writing to memory does not fail")
        }
        RdfFormat::JsonLd => {
            let mut serializer = JsonLdSerializer::new();
            for (prefix, iri) in PREFIXES {
                serializer = serializer
                    .with_prefix(prefix, iri)
                    .expect("the prefixes are valid IRIs");
            }
            let mut writer = serializer.for_writer(Vec::new());
            for t in triples {
                writer
                    .serialize_quad(t.in_graph(GraphNameRef::DefaultGraph))
                    .expect("writing to memory does not fail");
            }
            writer.finish().expect("writing to memory does not fail")
        }
    };
    String::from_utf8(bytes).expect("the serialisers write UTF-8")
}

fn iri(ns: &str, local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{ns}{local}"))
}
fn dcat(local: &str) -> NamedNode {
    iri(DCAT, local)
}
fn dct(local: &str) -> NamedNode {
    iri(DCT, local)
}
fn foaf(local: &str) -> NamedNode {
    iri(FOAF, local)
}
fn health(local: &str) -> NamedNode {
    iri(HEALTH, local)
}

/// A caller-given IRI (home page, URL, e-mail), if it is an absolute IRI.
fn checked_iri(text: &str) -> Option<NamedNode> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    NamedNode::new(text).ok()
}

fn mailto(email: &str) -> Option<NamedNode> {
    let email = email.trim();
    let email = email.strip_prefix("mailto:").unwrap_or(email);
    if !email.contains('@') {
        return None;
    }
    checked_iri(&format!("mailto:{email}"))
}

fn date_time(t: &DateTime<Utc>) -> Literal {
    Literal::new_typed_literal(t.to_rfc3339_opts(SecondsFormat::Secs, true), xsd::DATE_TIME)
}

fn date(d: NaiveDate) -> Literal {
    Literal::new_typed_literal(d.format("%Y-%m-%d").to_string(), xsd::DATE)
}

fn count(n: u64) -> Literal {
    Literal::new_typed_literal(n.to_string(), xsd::NON_NEGATIVE_INTEGER)
}

fn lang(text: &str, tag: &str) -> Literal {
    Literal::new_language_tagged_literal_unchecked(text, tag)
}

struct Builder<'a> {
    info: &'a CatalogInfo,
    graph: Graph,
    blanks: usize,
}

impl<'a> Builder<'a> {
    fn new(info: &'a CatalogInfo) -> Builder<'a> {
        debug_assert!(
            NamedNode::new(catalog_uri(&info.base_url)).is_ok(),
            "base_url must be an absolute URL: {:?}",
            info.base_url
        );
        Builder {
            info,
            graph: Graph::new(),
            blanks: 0,
        }
    }

    fn blank(&mut self) -> NamedOrBlankNode {
        self.blanks += 1;
        BlankNode::new_unchecked(format!("b{}", self.blanks)).into()
    }

    fn add(&mut self, s: &NamedOrBlankNode, p: NamedNode, o: impl Into<Term>) {
        self.graph.insert(&Triple::new(s.clone(), p, o));
    }

    fn typed(&mut self, s: &NamedOrBlankNode, class: NamedNode) {
        self.add(s, rdf::TYPE.into_owned(), class);
    }

    /// Types an external IRI (vocabulary entry, URL) so class constraints hold
    /// without inference; returns it as a value.
    fn typed_iri(&mut self, node: &NamedNode, class: NamedNode) -> NamedNode {
        self.typed(&node.clone().into(), class);
        node.clone()
    }

    /// The non-empty languages of `text`, one tagged literal each. False when
    /// both are empty.
    fn text(&mut self, s: &NamedOrBlankNode, p: NamedNodeRef<'_>, text: &Localized) -> bool {
        let mut any = false;
        for (tag, value) in [("fr", &text.fr), ("en", &text.en)] {
            let value = value.trim();
            if !value.is_empty() {
                self.add(s, p.into_owned(), lang(value, tag));
                any = true;
            }
        }
        any
    }

    fn document(&mut self, url: &NamedNode) -> NamedNode {
        self.typed_iri(url, foaf("Document"))
    }

    fn resource(&mut self, url: &NamedNode) -> NamedNode {
        self.typed_iri(url, rdfs::RESOURCE.into_owned())
    }

    fn language(&mut self, code: &str) -> NamedNode {
        let node = iri(&format!("{EU_AUTHORITY}language/"), &segment(code));
        self.typed_iri(&node, dct("LinguisticSystem"))
    }

    fn legislation(&mut self) -> NamedNode {
        self.typed_iri(
            &NamedNode::new_unchecked(EHDS_REGULATION),
            iri(ELI, "LegalResource"),
        )
    }

    /// A `foaf:Agent` (and `foaf:Organization`) blank node with `foaf:name`.
    fn agent(&mut self, agent: &Agent) -> NamedOrBlankNode {
        let node = self.blank();
        self.typed(&node, foaf("Agent"));
        self.typed(&node, foaf("Organization"));
        let name = if agent.name.trim().is_empty() {
            self.info.publisher.name.trim()
        } else {
            agent.name.trim()
        };
        self.add(&node, foaf("name"), Literal::new_simple_literal(name));
        if let Some(home) = agent.homepage.as_deref().and_then(checked_iri) {
            let home = self.document(&home);
            self.add(&node, foaf("homepage"), home);
        }
        if let Some(mbox) = agent.email.as_deref().and_then(mailto) {
            self.add(&node, foaf("mbox"), mbox);
        }
        node
    }

    /// A `vcard:Kind` with `vcard:fn`, `vcard:hasEmail` (a `mailto:` IRI) and
    /// `vcard:hasURL` when known.
    fn contact(&mut self, contact: &ContactPoint) -> NamedOrBlankNode {
        let node = self.blank();
        self.typed(&node, iri(VCARD, "Kind"));
        self.add(
            &node,
            iri(VCARD, "fn"),
            Literal::new_simple_literal(contact.name.trim()),
        );
        if let Some(mbox) = mailto(&contact.email) {
            self.add(&node, iri(VCARD, "hasEmail"), mbox);
        }
        if let Some(url) = contact.url.as_deref().and_then(checked_iri) {
            self.add(&node, iri(VCARD, "hasURL"), url);
        }
        node
    }

    fn period(&mut self, period: &Period) -> NamedOrBlankNode {
        let node = self.blank();
        self.typed(&node, dct("PeriodOfTime"));
        self.add(&node, dcat("startDate"), date(period.start));
        self.add(&node, dcat("endDate"), date(period.end));
        node
    }

    fn catalog(&mut self) -> NamedOrBlankNode {
        let info = self.info;
        let catalog: NamedOrBlankNode =
            NamedNode::new_unchecked(catalog_uri(&info.base_url)).into();
        self.typed(&catalog, dcat("Catalog"));
        if !self.text(&catalog, dct("title").as_ref(), &info.title) {
            self.add(
                &catalog,
                dct("title"),
                Literal::new_simple_literal(catalog_uri(&info.base_url)),
            );
        }
        if !self.text(&catalog, dct("description").as_ref(), &info.description)
            && !self.text(&catalog, dct("description").as_ref(), &info.title)
        {
            self.add(
                &catalog,
                dct("description"),
                Literal::new_simple_literal(catalog_uri(&info.base_url)),
            );
        }
        let publisher = self.agent(&info.publisher);
        self.add(&catalog, dct("publisher"), publisher);
        if let Some(home) = checked_iri(&info.homepage) {
            let home = self.document(&home);
            self.add(&catalog, foaf("homepage"), home);
        }
        if let Some(modified) = &info.modified {
            self.add(&catalog, dct("modified"), date_time(modified));
        }
        for code in ["FRA", "ENG"] {
            let language = self.language(code);
            self.add(&catalog, dct("language"), language);
        }
        let taxonomy = NamedNode::new_unchecked(EU_THEME.trim_end_matches('/'));
        let scheme: NamedOrBlankNode = taxonomy.clone().into();
        self.typed(&scheme, iri(SKOS, "ConceptScheme"));
        self.text(
            &scheme,
            dct("title").as_ref(),
            &Localized::new("Thèmes des données", "Data theme"),
        );
        self.add(&catalog, dcat("themeTaxonomy"), taxonomy);
        catalog
    }

    fn paging(&mut self, catalog: &NamedOrBlankNode, page: &Page) {
        let base = &self.info.base_url;
        let number = page.number.max(1);
        let last = page.last();
        let this_page = NamedNode::new_unchecked(catalog_page_url(base, number));
        self.add(catalog, iri(HYDRA, "view"), this_page.clone());
        let view: NamedOrBlankNode = this_page.into();
        self.typed(&view, iri(HYDRA, "PartialCollectionView"));
        let link = |n: usize| NamedNode::new_unchecked(catalog_page_url(base, n));
        self.add(&view, iri(HYDRA, "first"), link(1));
        self.add(&view, iri(HYDRA, "last"), link(last));
        if number < last {
            self.add(&view, iri(HYDRA, "next"), link(number + 1));
        }
        if number > 1 {
            self.add(&view, iri(HYDRA, "previous"), link((number - 1).min(last)));
        }
        self.add(
            &view,
            iri(HYDRA, "totalItems"),
            count(page.total_datasets as u64),
        );
    }

    fn dataset(&mut self, d: &DatasetEntry) -> NamedNode {
        let info = self.info;
        let base = info.base_url.as_str();
        let m = &d.metadata;
        let uri = NamedNode::new_unchecked(dataset_uri(base, &d.id));
        let ds: NamedOrBlankNode = uri.clone().into();

        self.typed(&ds, dcat("Dataset"));
        self.add(&ds, dct("identifier"), Literal::new_simple_literal(&d.id));
        if !self.text(&ds, dct("title").as_ref(), &m.title) {
            self.add(&ds, dct("title"), Literal::new_simple_literal(&d.id));
        }
        // dct:description is mandatory in DCAT-AP: fall back to the title.
        if !self.text(&ds, dct("description").as_ref(), &m.description)
            && !self.text(&ds, dct("description").as_ref(), &m.title)
        {
            self.add(&ds, dct("description"), Literal::new_simple_literal(&d.id));
        }
        for keyword in &m.keywords {
            let keyword = keyword.trim();
            if !keyword.is_empty() {
                self.add(&ds, dcat("keyword"), lang(keyword, "fr"));
            }
        }
        for code in &m.themes {
            let theme = NamedNode::new_unchecked(theme_uri(&segment(code)));
            let concept: NamedOrBlankNode = theme.clone().into();
            self.typed(&concept, iri(SKOS, "Concept"));
            let labels = DATA_THEMES
                .iter()
                .find(|(c, _, _)| c == code)
                .map(|(_, fr, en)| Localized::new(*fr, *en))
                .unwrap_or_else(|| Localized::same(code.as_str()));
            self.text(&concept, iri(SKOS, "prefLabel").as_ref(), &labels);
            self.add(
                &concept,
                iri(SKOS, "inScheme"),
                NamedNode::new_unchecked(EU_THEME.trim_end_matches('/')),
            );
            self.add(&ds, dcat("theme"), theme);
        }

        // Agents and contact.
        let publisher = if m.publisher.name.trim().is_empty() {
            self.agent(&info.publisher)
        } else {
            self.agent(&m.publisher)
        };
        self.add(&ds, dct("publisher"), publisher);
        if let Some(producer) = m.producer.as_ref().filter(|p| !p.name.trim().is_empty()) {
            let creator = self.agent(producer);
            self.add(&ds, dct("creator"), creator);
        }
        let contact = contact_of(m, &info.publisher);
        let contact = self.contact(&contact);
        self.add(&ds, dcat("contactPoint"), contact);

        // Coverage: declared period, else the one computed from the data.
        if let Some(period) = m
            .temporal
            .or_else(|| d.stats.as_ref().and_then(|s| s.period))
        {
            let period = self.period(&period);
            self.add(&ds, dct("temporal"), period);
        }
        for code in &m.spatial {
            let country = iri(&format!("{EU_AUTHORITY}country/"), &segment(code));
            let country = self.typed_iri(&country, dct("Location"));
            self.add(&ds, dct("spatial"), country);
        }

        // Rights, frequency, dates, pages, legislation.
        let rights = self.typed_iri(
            &NamedNode::new_unchecked(m.access_rights.uri()),
            dct("RightsStatement"),
        );
        self.add(&ds, dct("accessRights"), rights);
        let frequency = self.typed_iri(
            &NamedNode::new_unchecked(m.update_frequency.uri()),
            dct("Frequency"),
        );
        self.add(&ds, dct("accrualPeriodicity"), frequency);
        self.add(&ds, dct("issued"), date_time(&d.issued));
        self.add(&ds, dct("modified"), date_time(&d.modified));
        let landing = self.document(&uri);
        self.add(&ds, dcat("landingPage"), landing);
        self.add(
            &ds,
            rdfs::SEE_ALSO.into_owned(),
            NamedNode::new_unchecked(dataset_api_url(base, &d.id)),
        );
        let legislation = self.legislation();
        self.add(&ds, iri(DCATAP, "applicableLegislation"), legislation);

        // Versions.
        if let Some(latest) = d.versions.last() {
            let version = Literal::new_simple_literal(latest.version.to_string());
            self.add(&ds, dcat("version"), version.clone());
            self.add(&ds, iri(OWL, "versionInfo"), version);
            let day = latest.published_at.format("%Y-%m-%d");
            let n = d.versions.len();
            let notes = Localized::new(
                format!(
                    "Version {} publiée le {day} ({} lignes) ; {n} version(s) publiée(s).",
                    latest.version, latest.records
                ),
                format!(
                    "Version {} published on {day} ({} records); {n} version(s) published.",
                    latest.version, latest.records
                ),
            );
            self.text(&ds, iri(ADMS, "versionNotes").as_ref(), &notes);
        }

        // Dataset type (EU dataset-type vocabulary).
        let (code, labels) = if m.synthetic {
            (
                "SYNTHETIC_DATA",
                Localized::new("Données synthétiques", "Synthetic data"),
            )
        } else {
            (
                "PERSONAL_DATA",
                Localized::new("Données à caractère personnel", "Personal data"),
            )
        };
        let dataset_type = iri(EU_DATASET_TYPE, code);
        let concept: NamedOrBlankNode = dataset_type.clone().into();
        self.typed(&concept, iri(SKOS, "Concept"));
        self.text(&concept, iri(SKOS, "prefLabel").as_ref(), &labels);
        self.add(&ds, dct("type"), dataset_type);

        // HealthDCAT-AP.
        if let Some(stats) = &d.stats {
            self.add(&ds, health("numberOfRecords"), count(stats.records));
            if let Some(individuals) = stats.individuals {
                self.add(&ds, health("numberOfUniqueIndividuals"), count(individuals));
            }
        }
        if let Some(age) = m.min_typical_age {
            self.add(&ds, health("minTypicalAge"), count(u64::from(age)));
        }
        if let Some(age) = m.max_typical_age {
            self.add(&ds, health("maxTypicalAge"), count(u64::from(age)));
        }
        for code in &m.coding_systems {
            if let Some(system) = coding_system(code)
                && let Some(node) = checked_iri(system.uri)
            {
                self.add(
                    &node.clone().into(),
                    rdfs::LABEL.into_owned(),
                    Literal::new_simple_literal(system.label),
                );
                self.add(&ds, health("hasCodingSystem"), node);
            }
        }
        self.text(&ds, health("populationCoverage").as_ref(), &m.population);
        if !m.legal_basis.is_empty() {
            let node = self.blank();
            self.typed(&node, iri(DPV, "LegalBasis"));
            self.text(&node, rdfs::LABEL, &m.legal_basis);
            self.add(&ds, iri(DPV, "hasLegalBasis"), node);
        }
        if !m.purpose.is_empty() {
            let node = self.blank();
            self.typed(&node, iri(DPV, "Purpose"));
            self.text(&node, rdfs::LABEL, &m.purpose);
            self.add(&ds, iri(DPV, "hasPurpose"), node);
        }
        for note in &m.quality_annotations {
            if note.fr.trim().is_empty() && note.en.trim().is_empty() {
                continue;
            }
            let annotation = self.blank();
            self.typed(&annotation, iri(DQV, "QualityAnnotation"));
            self.add(&annotation, iri(OA, "hasTarget"), uri.clone());
            self.add(
                &annotation,
                iri(OA, "motivatedBy"),
                iri(DQV, "qualityAssessment"),
            );
            for (tag, text) in [("fr", &note.fr), ("en", &note.en)] {
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                let body = self.blank();
                self.typed(&body, iri(OA, "TextualBody"));
                self.add(&body, rdf::VALUE.into_owned(), lang(text, tag));
                self.add(&annotation, iri(OA, "hasBody"), body);
            }
            self.add(&ds, iri(DQV, "hasQualityAnnotation"), annotation);
        }

        self.distributions(d, &ds);

        for table in &d.tables {
            let node = NamedNode::new_unchecked(table_uri(base, &d.id, &table.name));
            let t: NamedOrBlankNode = node.clone().into();
            self.typed(&t, iri(CSVW, "Table"));
            self.typed(&t, rdfs::RESOURCE.into_owned());
            self.add(
                &t,
                iri(CSVW, "name"),
                Literal::new_simple_literal(&table.name),
            );
            let title = if table.title.trim().is_empty() {
                &table.name
            } else {
                table.title.trim()
            };
            self.add(&t, dct("title"), Literal::new_simple_literal(title));
            let n = table.variables;
            self.text(
                &t,
                dct("description").as_ref(),
                &Localized::new(format!("{n} variable(s)"), format!("{n} variable(s)")),
            );
            self.add(&t, dct("isPartOf"), uri.clone());
            self.add(&ds, dct("relation"), node);
        }
        uri
    }

    fn distributions(&mut self, d: &DatasetEntry, ds: &NamedOrBlankNode) {
        let base = self.info.base_url.as_str();
        let m = &d.metadata;
        let uri = dataset_uri(base, &d.id);

        // The data: only through the secure workspace, after an access request.
        let workspace = NamedNode::new_unchecked(format!("{uri}#distribution-workspace"));
        self.add(ds, dcat("distribution"), workspace.clone());
        let dist: NamedOrBlankNode = workspace.into();
        self.typed(&dist, dcat("Distribution"));
        self.text(
            &dist,
            dct("title").as_ref(),
            &Localized::new(
                "Accès dans l'espace de travail sécurisé",
                "Access through the secure workspace",
            ),
        );
        self.text(
            &dist,
            dct("description").as_ref(),
            &Localized::new(
                "Les données ne se téléchargent pas : un projet autorisé les analyse dans \
                 l'espace de travail sécurisé du hub, après une demande d'accès.",
                "The data cannot be downloaded: an authorised project analyses it in the \
                 hub's secure workspace, after an access request.",
            ),
        );
        let access = self.resource(&NamedNode::new_unchecked(access_request_url(base, &d.id)));
        self.add(&dist, dcat("accessURL"), access);
        let parquet = self.typed_iri(
            &iri(&format!("{EU_AUTHORITY}file-type/"), "PARQUET"),
            dct("MediaTypeOrExtent"),
        );
        self.add(&dist, dct("format"), parquet);
        if let Some(code) = m
            .licence
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            let licence = self.typed_iri(
                &iri(&format!("{EU_AUTHORITY}licence/"), &segment(code)),
                dct("LicenseDocument"),
            );
            self.add(&dist, dct("license"), licence);
        }
        if !m.access_conditions.is_empty() {
            let rights = self.blank();
            self.typed(&rights, dct("RightsStatement"));
            self.text(&rights, rdfs::LABEL, &m.access_conditions);
            self.add(&dist, dct("rights"), rights);
        }
        if let (Some(first), Some(latest)) = (d.versions.first(), d.versions.last()) {
            self.add(&dist, dct("issued"), date_time(&first.published_at));
            self.add(&dist, dct("modified"), date_time(&latest.published_at));
        }
        let legislation = self.legislation();
        self.add(&dist, iri(DCATAP, "applicableLegislation"), legislation);

        // This metadata record, in both serialisations.
        for (format, suffix, file_type, fr, en) in [
            (
                RdfFormat::Turtle,
                "ttl",
                "RDF_TURTLE",
                "Fiche DCAT du jeu de données (Turtle)",
                "Dataset DCAT record (Turtle)",
            ),
            (
                RdfFormat::JsonLd,
                "jsonld",
                "JSON_LD",
                "Fiche DCAT du jeu de données (JSON-LD)",
                "Dataset DCAT record (JSON-LD)",
            ),
        ] {
            let record = NamedNode::new_unchecked(format!("{uri}#distribution-{suffix}"));
            self.add(ds, dcat("distribution"), record.clone());
            let dist: NamedOrBlankNode = record.into();
            self.typed(&dist, dcat("Distribution"));
            self.text(&dist, dct("title").as_ref(), &Localized::new(fr, en));
            let url = self.resource(&NamedNode::new_unchecked(dataset_rdf_url(
                base, &d.id, format,
            )));
            self.add(&dist, dcat("accessURL"), url.clone());
            self.add(&dist, dcat("downloadURL"), url);
            let media_type = self.typed_iri(
                &NamedNode::new_unchecked(format!(
                    "http://www.iana.org/assignments/media-types/{}",
                    format.media_type()
                )),
                dct("MediaType"),
            );
            self.add(&dist, dcat("mediaType"), media_type);
            let file_type = self.typed_iri(
                &iri(&format!("{EU_AUTHORITY}file-type/"), file_type),
                dct("MediaTypeOrExtent"),
            );
            self.add(&dist, dct("format"), file_type);
            self.add(&dist, dct("modified"), date_time(&d.modified));
        }
    }
}

/// The dataset's contact point; else its publisher, else the hub's publisher.
/// A contact point without a usable e-mail address borrows the first one of
/// the dataset's publisher and the hub's publisher.
fn contact_of(m: &DatasetMetadata, hub: &Agent) -> ContactPoint {
    let email_of = |a: &Agent| a.email.clone().filter(|e| mailto(e).is_some());
    let fallback_email = email_of(&m.publisher).or_else(|| email_of(hub));
    let mut contact = match &m.contact_point {
        Some(c) if !(c.name.trim().is_empty() && c.email.trim().is_empty()) => c.clone(),
        _ => {
            let agent = if m.publisher.name.trim().is_empty() {
                hub
            } else {
                &m.publisher
            };
            ContactPoint {
                name: agent.name.clone(),
                email: String::new(),
                url: agent.homepage.clone(),
            }
        }
    };
    if mailto(&contact.email).is_none() {
        contact.email = fallback_email.unwrap_or_default();
    }
    if contact.name.trim().is_empty() {
        contact.name = if contact.email.is_empty() {
            hub.name.clone()
        } else {
            contact.email.clone()
        };
    }
    contact
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_from_the_base() {
        let base = "http://127.0.0.1:8080/";
        assert_eq!(catalog_uri(base), "http://127.0.0.1:8080/catalogue");
        assert_eq!(
            dataset_uri(base, "snds-dcir"),
            "http://127.0.0.1:8080/catalogue/datasets/snds-dcir"
        );
        assert_eq!(
            table_uri(base, "a b", "ÉTÉ/1"),
            "http://127.0.0.1:8080/catalogue/datasets/a%20b/tables/%C3%89T%C3%89%2F1"
        );
        assert_eq!(
            dataset_rdf_url(base, "x", RdfFormat::JsonLd),
            "http://127.0.0.1:8080/catalogue/datasets/x.jsonld"
        );
        assert_eq!(
            catalog_page_url(base, 2),
            "http://127.0.0.1:8080/catalogue.ttl?page=2"
        );
        assert_eq!(
            access_request_url(base, "x"),
            "http://127.0.0.1:8080/requests/new?dataset=x"
        );
        assert_eq!(
            dataset_api_url(base, "x"),
            "http://127.0.0.1:8080/api/catalogue/datasets/x"
        );
    }

    #[test]
    fn last_page() {
        let page = |size, total| Page {
            number: 1,
            size,
            total_datasets: total,
        };
        assert_eq!(page(10, 0).last(), 1);
        assert_eq!(page(10, 10).last(), 1);
        assert_eq!(page(10, 11).last(), 2);
        assert_eq!(page(0, 3).last(), 3);
    }

    #[test]
    fn contact_point_falls_back_to_an_email() {
        let hub = Agent {
            name: "Hub".into(),
            homepage: None,
            email: Some("hub@example.org".into()),
        };
        let mut m = DatasetMetadata::untitled("x", "Producer");
        assert_eq!(contact_of(&m, &hub).email, "hub@example.org");
        assert_eq!(contact_of(&m, &hub).name, "Producer");
        m.contact_point = Some(ContactPoint {
            name: "Desk".into(),
            email: "not an address".into(),
            url: None,
        });
        let c = contact_of(&m, &hub);
        assert_eq!(
            (c.name.as_str(), c.email.as_str()),
            ("Desk", "hub@example.org")
        );
        m.publisher.email = Some("mailto:pub@example.org".into());
        assert_eq!(contact_of(&m, &hub).email, "mailto:pub@example.org");
        assert_eq!(
            mailto("mailto:pub@example.org").unwrap().as_str(),
            "mailto:pub@example.org"
        );
    }
}
