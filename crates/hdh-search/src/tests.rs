use std::time::Instant;

use super::*;

fn doc(
    kind: DocKind,
    key: &str,
    group: &str,
    title: &str,
    code: Option<&str>,
    text: &str,
) -> SearchDoc {
    let boost = match kind {
        DocKind::Dataset => 3.0,
        DocKind::Table => 2.0,
        DocKind::Variable => 1.5,
        DocKind::Code => 1.0,
    };
    SearchDoc {
        kind,
        key: key.to_string(),
        group: group.to_string(),
        title: title.to_string(),
        code: code.map(str::to_string),
        text: text.to_string(),
        url: format!("/catalogue/{key}"),
        facets: Vec::new(),
        boost,
    }
}

fn var(key: &str, name: &str, text: &str) -> SearchDoc {
    let mut d = doc(
        DocKind::Variable,
        &format!("variable:snds-dcir/ER_PRS_F/{key}"),
        "snds-dcir",
        name,
        Some(name),
        text,
    );
    d.facets = vec![
        ("producer".into(), "CNAM".into()),
        ("product".into(), "DCIR".into()),
    ];
    d
}

fn cim(code: &str, label: &str) -> SearchDoc {
    let mut d = doc(
        DocKind::Code,
        &format!("code:IR_CIM_V/{code}"),
        "nomenclature:IR_CIM_V",
        &format!("{code} — {label}"),
        Some(code),
        label,
    );
    d.facets = vec![("coding_system".into(), "ICD-10".into())];
    d
}

fn commune(code: &str, name: &str) -> SearchDoc {
    let mut d = doc(
        DocKind::Code,
        &format!("code:IR_GEO_V/{code}"),
        "nomenclature:IR_GEO_V",
        name,
        Some(code),
        name,
    );
    d.facets = vec![("coding_system".into(), "COG".into())];
    d
}

/// A small but realistic catalogue.
fn catalogue() -> Vec<SearchDoc> {
    let mut dcir = doc(
        DocKind::Dataset,
        "dataset:snds-dcir",
        "snds-dcir",
        "DCIR — Datamart de consommation inter-régimes",
        None,
        "Remboursements de soins de ville : actes, médicaments délivrés en pharmacie, \
         biologie. Données individuelles des bénéficiaires de l'assurance maladie.",
    );
    dcir.facets = vec![
        ("producer".into(), "CNAM".into()),
        ("product".into(), "DCIR".into()),
        ("theme".into(), "HEAL".into()),
    ];
    let mut pmsi = doc(
        DocKind::Dataset,
        "dataset:snds-pmsi-mco",
        "snds-pmsi-mco",
        "PMSI MCO — Séjours hospitaliers",
        None,
        "Séjours en médecine, chirurgie, obstétrique : diagnostics, actes, durée de séjour, \
         décès à l'hôpital.",
    );
    pmsi.facets = vec![
        ("producer".into(), "ATIH".into()),
        ("product".into(), "PMSI".into()),
        ("theme".into(), "HEAL".into()),
        ("theme".into(), "SOCI/ECON".into()),
    ];
    let mut prs = doc(
        DocKind::Table,
        "table:snds-dcir/ER_PRS_F",
        "snds-dcir",
        "ER_PRS_F — Table des prestations",
        Some("ER_PRS_F"),
        "Table centrale des prestations remboursées (une ligne par prestation).",
    );
    prs.facets = vec![
        ("producer".into(), "CNAM".into()),
        ("product".into(), "DCIR".into()),
    ];
    let mut pha = doc(
        DocKind::Table,
        "table:snds-dcir/ER_PHA_F",
        "snds-dcir",
        "ER_PHA_F — Prestations de pharmacie",
        Some("ER_PHA_F"),
        "Médicament délivré : code CIP, quantité. Jointure avec ER_PRS_F sur les clés \
         techniques.",
    );
    pha.facets = prs.facets.clone();
    let mut rsa_dp = doc(
        DocKind::Variable,
        "variable:snds-pmsi-mco/T_MCOaa_nnB/DGN_PAL",
        "snds-pmsi-mco",
        "DGN_PAL",
        Some("DGN_PAL"),
        "Diagnostic principal du séjour, codé selon la classification CIM-10 en vigueur \
         à la date de sortie du patient de l'établissement",
    );
    rsa_dp.facets = vec![
        ("producer".into(), "ATIH".into()),
        ("product".into(), "PMSI".into()),
    ];
    let mut rsa_da = doc(
        DocKind::Variable,
        "variable:snds-pmsi-mco/T_MCOaa_nnD/ASS_DGN",
        "snds-pmsi-mco",
        "ASS_DGN",
        Some("ASS_DGN"),
        "Principal code de diagnostic associé",
    );
    rsa_da.facets = rsa_dp.facets.clone();
    vec![
        dcir,
        pmsi,
        prs,
        pha,
        rsa_dp,
        rsa_da,
        var(
            "BEN_AMA_COD",
            "BEN_AMA_COD",
            "Âge du bénéficiaire au moment des soins (en mois pour les moins d'un an)",
        ),
        var(
            "BEN_DCD_DTE",
            "BEN_DCD_DTE",
            "Date de décès du bénéficiaire",
        ),
        var(
            "PHA_PRS_C13",
            "PHA_PRS_C13",
            "Code CIP du médicament délivré (13 caractères)",
        ),
        var(
            "PRS_DRUG",
            "PRS_DRUG",
            "Drug dispensed by the pharmacy (English label)",
        ),
        var(
            "PRS_RMQ_TXT",
            "PRS_RMQ_TXT",
            "Remarque <script>alert('x')</script> & autres \"notes\" sur la prestation",
        ),
        cim("E11", "Diabète sucré de type 2"),
        cim("E110", "Diabète sucré de type 2, avec coma"),
        cim("E119", "Diabète sucré de type 2, sans complication"),
        cim("E10", "Diabète sucré de type 1"),
        cim("I10", "Hypertension essentielle (primitive)"),
        commune("14634", "ST MARTIN DE SALLEN"),
        commune("33491", "SALLES"),
        commune("75056", "PARIS"),
    ]
}

fn index() -> SearchIndex {
    let idx = SearchIndex::in_ram().expect("in_ram");
    let n = idx
        .replace_all(catalogue(), "gen-1", &mut |_| {})
        .expect("replace_all");
    assert_eq!(n, catalogue().len());
    idx
}

fn search(idx: &SearchIndex, text: &str) -> SearchResults {
    idx.search(&SearchQuery::new(text)).expect("search")
}

fn keys(r: &SearchResults) -> Vec<&str> {
    r.hits.iter().map(|h| h.key.as_str()).collect()
}

fn has(r: &SearchResults, key: &str) -> bool {
    r.hits.iter().any(|h| h.key == key)
}

fn pos(r: &SearchResults, key: &str) -> usize {
    r.hits
        .iter()
        .position(|h| h.key == key)
        .unwrap_or_else(|| panic!("{key} not in {:?}", keys(r)))
}

fn score(r: &SearchResults, key: &str) -> f32 {
    r.hits[pos(r, key)].score
}

#[test]
fn accent_and_case_folding() {
    let idx = index();
    for q in ["medicament", "MEDICAMENT", "Médicament", "MÉDICAMENT"] {
        let r = search(&idx, q);
        assert!(has(&r, "table:snds-dcir/ER_PHA_F"), "{q}: {:?}", keys(&r));
        assert!(has(&r, "variable:snds-dcir/ER_PRS_F/PHA_PRS_C13"), "{q}");
    }
    let r = search(&idx, "deces");
    assert!(
        has(&r, "variable:snds-dcir/ER_PRS_F/BEN_DCD_DTE"),
        "{:?}",
        keys(&r)
    );
    assert!(has(&r, "dataset:snds-pmsi-mco"));
    let r = search(&idx, "DÉCÈS");
    assert!(has(&r, "variable:snds-dcir/ER_PRS_F/BEN_DCD_DTE"));
}

#[test]
fn french_and_english_stemming() {
    let idx = index();
    // Plural → singular (French stemmer).
    let r = search(&idx, "médicaments");
    assert!(
        has(&r, "variable:snds-dcir/ER_PRS_F/PHA_PRS_C13"),
        "{:?}",
        keys(&r)
    );
    let r = search(&idx, "diagnostics");
    assert!(
        has(&r, "variable:snds-pmsi-mco/T_MCOaa_nnB/DGN_PAL"),
        "{:?}",
        keys(&r)
    );
    // English.
    let r = search(&idx, "drugs");
    assert_eq!(
        r.hits[0].key,
        "variable:snds-dcir/ER_PRS_F/PRS_DRUG",
        "{:?}",
        keys(&r)
    );
    // A word too short for typo tolerance: only the stemmer can match it.
    let r = search(&idx, "ages");
    assert!(
        has(&r, "variable:snds-dcir/ER_PRS_F/BEN_AMA_COD"),
        "{:?}",
        keys(&r)
    );
    // Stemming is not fuzziness: `sejours` stems like `séjour`.
    let r = search(&idx, "sejours hospitalier");
    assert_eq!(r.hits[0].key, "dataset:snds-pmsi-mco", "{:?}", keys(&r));
}

#[test]
fn typo_tolerance() {
    let idx = index();
    let r = search(&idx, "medicamnet");
    assert!(has(&r, "table:snds-dcir/ER_PHA_F"), "{:?}", keys(&r));
    let r = search(&idx, "diagnostc");
    assert!(
        has(&r, "variable:snds-pmsi-mco/T_MCOaa_nnB/DGN_PAL"),
        "{:?}",
        keys(&r)
    );
    // 9+ chars: two edits.
    let r = search(&idx, "prestattions");
    assert!(has(&r, "table:snds-dcir/ER_PRS_F"), "{:?}", keys(&r));
    // Short words get no typo tolerance.
    let r = search(&idx, "parsi");
    assert!(
        has(&r, "code:IR_GEO_V/75056"),
        "5 chars, 1 edit: {:?}",
        keys(&r)
    );
    let r = search(&idx, "pris");
    assert!(!has(&r, "code:IR_GEO_V/75056"), "4 chars: {:?}", keys(&r));
    // Exact beats fuzzy: SALLEN exactly, SALLES one edit away.
    let r = search(&idx, "sallen");
    assert_eq!(r.hits[0].key, "code:IR_GEO_V/14634", "{:?}", keys(&r));
    assert!(
        has(&r, "code:IR_GEO_V/33491"),
        "fuzzy match expected: {:?}",
        keys(&r)
    );
    assert!(score(&r, "code:IR_GEO_V/14634") > score(&r, "code:IR_GEO_V/33491"));
    let r = search(&idx, "salles");
    assert_eq!(r.hits[0].key, "code:IR_GEO_V/33491", "{:?}", keys(&r));
    // Numbers are not fuzzy: 75057 must not find 75056.
    let r = search(&idx, "75057");
    assert_eq!(r.total, 0, "{:?}", keys(&r));
}

#[test]
fn multi_word_and_phrase() {
    let idx = index();
    let r = search(&idx, "diagnostic principal");
    let dp = pos(&r, "variable:snds-pmsi-mco/T_MCOaa_nnB/DGN_PAL");
    let da = pos(&r, "variable:snds-pmsi-mco/T_MCOaa_nnD/ASS_DGN");
    assert!(dp < da, "adjacent phrase must rank first: {:?}", keys(&r));
    // AND: both words required.
    assert_eq!(r.total, 2, "{:?}", keys(&r));
    let r = search(&idx, "diagnostic coma");
    assert_eq!(r.total, 0, "{:?}", keys(&r));
    // Function words are not required ("du" is not in ER_PHA_F's text).
    let r = search(&idx, "code du médicament délivré");
    assert!(has(&r, "table:snds-dcir/ER_PHA_F"), "{:?}", keys(&r));
    assert!(
        has(&r, "variable:snds-dcir/ER_PRS_F/PHA_PRS_C13"),
        "{:?}",
        keys(&r)
    );
    // Only function words: they are searched.
    let r = search(&idx, "de la");
    assert!(r.total > 0);
}

#[test]
fn codes() {
    let idx = index();
    let r = search(&idx, "E11");
    assert_eq!(r.hits[0].key, "code:IR_CIM_V/E11", "{:?}", keys(&r));
    // Prefix: E110 and E119 match, below E11; E10 does not.
    assert!(score(&r, "code:IR_CIM_V/E110") < score(&r, "code:IR_CIM_V/E11"));
    assert!(has(&r, "code:IR_CIM_V/E119"));
    assert!(!has(&r, "code:IR_CIM_V/E10"), "{:?}", keys(&r));
    assert_eq!(r.total, 3);
    let r = search(&idx, "e11");
    assert_eq!(r.hits[0].key, "code:IR_CIM_V/E11");
    // Prefix needs 2 chars.
    let r = search(&idx, "E");
    assert!(!has(&r, "code:IR_CIM_V/E11"), "{:?}", keys(&r));
    // Table identifiers, any case, ranked first even though another table
    // mentions it.
    for q in ["ER_PRS_F", "er_prs_f", "Er_Prs_F"] {
        let r = search(&idx, q);
        assert_eq!(
            r.hits[0].key,
            "table:snds-dcir/ER_PRS_F",
            "{q}: {:?}",
            keys(&r)
        );
        assert!(has(&r, "table:snds-dcir/ER_PHA_F"), "{q}: {:?}", keys(&r));
    }
    // Variable names.
    let r = search(&idx, "ben_ama_cod");
    assert_eq!(r.hits[0].key, "variable:snds-dcir/ER_PRS_F/BEN_AMA_COD");
    // A code and a word together.
    let r = search(&idx, "E11 coma");
    assert_eq!(keys(&r), vec!["code:IR_CIM_V/E110"]);
    // Labels of codes are searchable too.
    let r = search(&idx, "diabete type 2");
    assert!(has(&r, "code:IR_CIM_V/E11") && !has(&r, "code:IR_CIM_V/E10"));
}

#[test]
fn commune_names() {
    let idx = index();
    let r = search(&idx, "sallen");
    assert_eq!(r.hits[0].title, "ST MARTIN DE SALLEN");
    let r = search(&idx, "martin de sallen");
    assert_eq!(r.hits[0].key, "code:IR_GEO_V/14634");
    let r = search(&idx, "14634");
    assert_eq!(r.hits[0].key, "code:IR_GEO_V/14634");
}

#[test]
fn facets_counts_and_filters() {
    let idx = index();
    // Counts over all matching documents, not just the page.
    let q = SearchQuery {
        text: "diabete".into(),
        limit: 1,
        ..SearchQuery::default()
    };
    let r = idx.search(&q).expect("search");
    assert_eq!(r.total, 4);
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.facets["kind"], vec![("code".to_string(), 4)]);
    assert_eq!(r.facets["coding_system"], vec![("ICD-10".to_string(), 4)]);

    // Several names, sorted by count desc; kind added automatically.
    let r = search(&idx, "");
    assert_eq!(r.total, catalogue().len());
    assert_eq!(
        r.facets["kind"],
        vec![
            ("code".to_string(), 8),
            ("variable".to_string(), 7),
            ("dataset".to_string(), 2),
            ("table".to_string(), 2),
        ]
    );
    assert_eq!(
        r.facets["coding_system"],
        vec![("ICD-10".to_string(), 5), ("COG".to_string(), 3)]
    );
    assert_eq!(
        r.facets["product"],
        vec![("DCIR".to_string(), 8), ("PMSI".to_string(), 3)]
    );
    // A value with '/' round-trips.
    assert!(r.facets["theme"].contains(&("SOCI/ECON".to_string(), 1)));

    // OR within a name.
    let r = idx
        .search(
            &SearchQuery::new("")
                .filter("kind", "table")
                .filter("kind", "dataset"),
        )
        .expect("search");
    assert_eq!(r.total, 4);
    // AND between names.
    let r = idx
        .search(
            &SearchQuery::new("")
                .filter("kind", "variable")
                .filter("producer", "ATIH"),
        )
        .expect("search");
    assert_eq!(r.total, 2, "{:?}", keys(&r));
    // With text.
    let r = idx
        .search(&SearchQuery::new("médicament").filter("kind", "table"))
        .expect("search");
    assert_eq!(keys(&r), vec!["table:snds-dcir/ER_PHA_F"]);
    // Filter on a value with '/'.
    let r = idx
        .search(&SearchQuery::new("").filter("theme", "SOCI/ECON"))
        .expect("search");
    assert_eq!(keys(&r), vec!["dataset:snds-pmsi-mco"]);
    // Hit facets.
    let hit = &r.hits[0];
    assert!(
        hit.facets
            .contains(&("theme".to_string(), "SOCI/ECON".to_string()))
    );
    assert!(
        hit.facets
            .contains(&("kind".to_string(), "dataset".to_string()))
    );
    assert!(
        hit.facets
            .contains(&("producer".to_string(), "ATIH".to_string()))
    );
    // Unknown values: no result, no error.
    let r = idx
        .search(&SearchQuery::new("").filter("producer", "nobody"))
        .expect("search");
    assert_eq!(r.total, 0);
    assert!(r.facets.is_empty());
    // Malformed filters are clear errors.
    for (n, v) in [("", "x"), ("kind", "  "), ("kind", "a\0b")] {
        let err = idx
            .search(&SearchQuery::new("").filter(n, v))
            .expect_err("bad filter");
        assert!(matches!(err, SearchError::BadFilter { .. }), "{err}");
        assert!(err.to_string().contains("invalid search filter"), "{err}");
    }
}

#[test]
fn snippets() {
    let idx = index();
    let r = search(&idx, "médicaments délivrés");
    let hit = &r.hits[pos(&r, "variable:snds-dcir/ER_PRS_F/PHA_PRS_C13")];
    assert_eq!(
        hit.snippet_html,
        "Code CIP du <b>médicament</b> <b>délivré</b> (13 caractères)"
    );
    // Escaping of everything that is not a highlight.
    let r = search(&idx, "remarque prestation");
    let hit = &r.hits[0];
    assert_eq!(hit.key, "variable:snds-dcir/ER_PRS_F/PRS_RMQ_TXT");
    assert!(
        !hit.snippet_html.contains("<script>"),
        "{}",
        hit.snippet_html
    );
    assert!(
        hit.snippet_html.contains("&lt;script&gt;"),
        "{}",
        hit.snippet_html
    );
    assert!(
        hit.snippet_html.contains("<b>Remarque</b>"),
        "{}",
        hit.snippet_html
    );
    assert!(hit.snippet_html.contains("&amp;"), "{}", hit.snippet_html);
    // Matched on the code only: beginning of the text, escaped.
    let r = search(&idx, "PRS_RMQ_TXT");
    let hit = &r.hits[0];
    assert_eq!(hit.key, "variable:snds-dcir/ER_PRS_F/PRS_RMQ_TXT");
    assert!(
        hit.snippet_html.starts_with("Remarque &lt;script&gt;"),
        "{}",
        hit.snippet_html
    );
    assert!(!hit.snippet_html.contains("<b>"));
    // Long texts are cut.
    let long = "Description très longue de la variable. ".repeat(30);
    let idx2 = SearchIndex::in_ram().expect("ram");
    idx2.replace_all(vec![var("LONG", "LONG_VAR", &long)], "s", &mut |_| {})
        .expect("replace");
    let r = search(&idx2, "long_var");
    let html = &r.hits[0].snippet_html;
    assert!(html.len() < 260 && html.ends_with('…'), "{html}");
    assert!(html.starts_with("Description très longue"), "{html}");
    let r = search(&idx2, "variable");
    assert!(r.hits[0].snippet_html.contains("<b>variable</b>"));
    assert!(
        r.hits[0].snippet_html.len() < 300,
        "{}",
        r.hits[0].snippet_html
    );
}

#[test]
fn empty_query_orders_by_boost() {
    let idx = index();
    let r = idx
        .search(&SearchQuery {
            limit: 100,
            ..SearchQuery::default()
        })
        .expect("search");
    assert_eq!(r.total, catalogue().len());
    let scores: Vec<f32> = r.hits.iter().map(|h| h.score).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(r.hits[0].kind, DocKind::Dataset);
    assert_eq!(r.hits.last().map(|h| h.kind), Some(DocKind::Code));
    // Whitespace only is empty too.
    assert_eq!(search(&idx, "  \t ").total, catalogue().len());
}

#[test]
fn boost_multiplies_score() {
    let idx = SearchIndex::in_ram().expect("ram");
    let mut a = var("A", "VAR_A", "Montant remboursé");
    a.boost = 1.0;
    let mut b = var("B", "VAR_B", "Montant remboursé");
    b.boost = 4.0;
    let mut c = var("C", "VAR_C", "Montant remboursé");
    c.boost = f32::NAN;
    idx.replace_all(vec![a, b, c], "s", &mut |_| {})
        .expect("replace");
    let r = search(&idx, "montant");
    assert_eq!(r.hits[0].key, "variable:snds-dcir/ER_PRS_F/B");
    let (sa, sb) = (
        score(&r, "variable:snds-dcir/ER_PRS_F/A"),
        score(&r, "variable:snds-dcir/ER_PRS_F/B"),
    );
    assert!((sb / sa - 4.0).abs() < 1e-3, "{sa} {sb}");
    assert_eq!(score(&r, "variable:snds-dcir/ER_PRS_F/C"), 0.0);
}

#[test]
fn hostile_input_never_fails() {
    let idx = index();
    let long_word = "a".repeat(10_000);
    let many_words = "médicament ".repeat(500);
    let many_tokens = "a,b;c.d-e_f/g".repeat(2000);
    let long_code = "E1".repeat(5000);
    let inputs = [
        "((( AND OR NOT \" : * ~ ^2 [a TO b] {x}",
        "title:foo +bar -baz",
        "\"unterminated",
        "\\",
        "🙂 😀 ∑∫",
        "\u{0}\u{1}\u{7f}",
        "-",
        "...",
        "l'",
        long_word.as_str(),
        many_words.as_str(),
        many_tokens.as_str(),
        long_code.as_str(),
        "médicament*",
        "E11.9",
        "medicament~2",
    ];
    for input in inputs {
        let r = idx.search(&SearchQuery::new(input));
        assert!(r.is_ok(), "{input:?}: {r:?}");
    }
    // Punctuation only: nothing.
    assert_eq!(search(&idx, "...").total, 0);
    // 500 words: only the first 12 are used, and it still matches.
    assert!(search(&idx, &many_words).total > 0);
    // Syntax characters are ignored.
    assert!(has(
        &search(&idx, "médicament*"),
        "table:snds-dcir/ER_PHA_F"
    ));
}

#[test]
fn limit_and_offset() {
    let idx = index();
    let all = idx
        .search(&SearchQuery {
            limit: 1000,
            ..SearchQuery::default()
        })
        .expect("search");
    assert_eq!(all.hits.len(), catalogue().len().min(MAX_LIMIT));
    let page = idx
        .search(&SearchQuery {
            limit: 3,
            offset: 2,
            ..SearchQuery::default()
        })
        .expect("search");
    assert_eq!(page.total, catalogue().len());
    assert_eq!(keys(&page), keys(&all)[2..5].to_vec());
    let none = idx
        .search(&SearchQuery {
            limit: 0,
            ..SearchQuery::default()
        })
        .expect("search");
    assert!(none.hits.is_empty());
    assert_eq!(none.total, catalogue().len());
    assert!(!none.facets.is_empty());
    let far = idx
        .search(&SearchQuery {
            limit: 10,
            offset: usize::MAX,
            ..SearchQuery::default()
        })
        .expect("search");
    assert!(far.hits.is_empty());
    assert_eq!(far.total, catalogue().len());
}

#[test]
fn replace_group_replaces_only_that_group() {
    let idx = index();
    let before = idx.doc_count();
    assert_eq!(before, catalogue().len() as u64);
    assert_eq!(idx.stamp().as_deref(), Some("gen-1"));
    let dcir_before = idx
        .search(&SearchQuery::new("").filter("product", "DCIR"))
        .expect("search")
        .total;
    let pmsi_before = idx
        .search(&SearchQuery::new("").filter("product", "PMSI"))
        .expect("search")
        .total;
    assert_eq!(pmsi_before, 3);

    let mut new_var = doc(
        DocKind::Variable,
        "variable:snds-pmsi-mco/T_MCOaa_nnB/ENT_MOD",
        "snds-pmsi-mco",
        "ENT_MOD",
        Some("ENT_MOD"),
        "Mode d'entrée dans le champ du PMSI",
    );
    new_var.facets = vec![("product".into(), "PMSI".into())];
    idx.replace_group("snds-pmsi-mco", vec![new_var], "gen-2")
        .expect("replace_group");

    // Visible immediately.
    assert_eq!(idx.stamp().as_deref(), Some("gen-2"));
    assert!(has(
        &search(&idx, "entree"),
        "variable:snds-pmsi-mco/T_MCOaa_nnB/ENT_MOD"
    ));
    assert_eq!(search(&idx, "diagnostic principal").total, 0);
    assert_eq!(idx.doc_count(), before - 3 + 1);
    let r = idx
        .search(&SearchQuery::new("").filter("product", "PMSI"))
        .expect("search");
    assert_eq!(r.total, 1);
    let r = idx
        .search(&SearchQuery::new("").filter("product", "DCIR"))
        .expect("search");
    assert_eq!(r.total, dcir_before);
    // Other groups untouched.
    assert_eq!(search(&idx, "E11").hits[0].key, "code:IR_CIM_V/E11");

    // Empty replacement deletes the group.
    idx.replace_group("nomenclature:IR_GEO_V", Vec::new(), "gen-3")
        .expect("replace_group");
    assert_eq!(search(&idx, "sallen").total, 0);
    assert_eq!(idx.doc_count(), before - 3 + 1 - 3);
    // Facet values of deleted documents disappear from counts.
    let r = search(&idx, "");
    assert_eq!(r.facets["coding_system"], vec![("ICD-10".to_string(), 5)]);
}

#[test]
fn replace_all_replaces_everything_and_reports_progress() {
    let idx = index();
    let mut calls = Vec::new();
    let docs = (0..12_000).map(|i| cim(&format!("X{i:05}"), "Libellé de test"));
    let n = idx
        .replace_all(docs, "gen-9", &mut |c| calls.push(c))
        .expect("replace_all");
    assert_eq!(n, 12_000);
    assert_eq!(calls, vec![10_000, 12_000]);
    assert_eq!(idx.doc_count(), 12_000);
    assert_eq!(search(&idx, "sallen").total, 0);
    assert_eq!(idx.stamp().as_deref(), Some("gen-9"));
    let r = search(&idx, "X00042");
    assert_eq!(r.hits[0].key, "code:IR_CIM_V/X00042");
    // Replacing with nothing empties the index.
    let mut calls = Vec::new();
    let n = idx
        .replace_all(Vec::new(), "gen-10", &mut |c| calls.push(c))
        .expect("replace_all");
    assert_eq!((n, calls), (0, vec![0]));
    assert_eq!(idx.doc_count(), 0);
    assert_eq!(search(&idx, "").total, 0);
    assert_eq!(idx.stamp().as_deref(), Some("gen-10"));
}

#[test]
fn stamp_round_trips_through_open_or_create() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("search");
    {
        let idx = SearchIndex::open_or_create(&path).expect("create");
        assert_eq!(idx.stamp(), None);
        assert_eq!(idx.doc_count(), 0);
        assert_eq!(search(&idx, "E11").total, 0);
        idx.replace_all(catalogue(), "store-gen-42", &mut |_| {})
            .expect("replace_all");
        idx.replace_group(
            "nomenclature:IR_GEO_V",
            vec![commune("14634", "ST MARTIN DE SALLEN")],
            "store-gen-43",
        )
        .expect("replace_group");
        assert_eq!(idx.stamp().as_deref(), Some("store-gen-43"));
    }
    let idx = SearchIndex::open_or_create(&path).expect("reopen");
    assert_eq!(idx.stamp().as_deref(), Some("store-gen-43"));
    assert_eq!(idx.doc_count(), catalogue().len() as u64 - 2);
    assert_eq!(search(&idx, "sallen").hits[0].key, "code:IR_GEO_V/14634");
    assert_eq!(search(&idx, "E11").hits[0].key, "code:IR_CIM_V/E11");
    // Writable after reopening.
    idx.replace_group("nomenclature:IR_GEO_V", Vec::new(), "store-gen-44")
        .expect("write after reopen");
    assert_eq!(idx.stamp().as_deref(), Some("store-gen-44"));
}

#[test]
fn schema_change_recreates_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    {
        // An "old version" index: different schema.
        let mut b = Schema::builder();
        let title = b.add_text_field("title", tantivy::schema::TEXT | STORED);
        let index = Index::create_in_dir(&path, b.build()).expect("old index");
        let mut writer: IndexWriter = index.writer(15_000_000).expect("writer");
        let mut d = TantivyDocument::new();
        d.add_text(title, "old document");
        writer.add_document(d).expect("add");
        writer.commit().expect("commit");
    }
    let idx = SearchIndex::open_or_create(&path).expect("recreated");
    assert_eq!(idx.doc_count(), 0);
    assert_eq!(idx.stamp(), None);
    idx.replace_all(catalogue(), "new", &mut |_| {})
        .expect("index");
    assert_eq!(search(&idx, "E11").hits[0].key, "code:IR_CIM_V/E11");
    drop(idx);
    // Reopening the now current index keeps it.
    let idx = SearchIndex::open_or_create(&path).expect("reopen");
    assert_eq!(idx.doc_count(), catalogue().len() as u64);

    // Garbage in meta.json: recreated as well.
    drop(idx);
    std::fs::write(path.join("meta.json"), b"{not json").expect("write");
    let idx = SearchIndex::open_or_create(&path).expect("recreated from garbage");
    assert_eq!(idx.doc_count(), 0);
}

#[test]
fn second_writer_is_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = SearchIndex::open_or_create(dir.path()).expect("a");
    let b = SearchIndex::open_or_create(dir.path()).expect("b (reader)");
    a.replace_all(catalogue(), "from-a", &mut |_| {})
        .expect("a writes");
    let err = b
        .replace_group("x", Vec::new(), "from-b")
        .expect_err("b must be locked out");
    assert!(matches!(err, SearchError::Locked(_)), "{err}");
    // b can still read, and sees a's commit after reload.
    b.reload().expect("reload");
    assert_eq!(b.doc_count(), catalogue().len() as u64);
    assert_eq!(b.stamp().as_deref(), Some("from-a"));
    // Once a releases its writer, b can write.
    a.release_writer();
    b.replace_group("nomenclature:IR_GEO_V", Vec::new(), "from-b")
        .expect("b writes");
    a.reload().expect("reload");
    assert_eq!(search(&a, "sallen").total, 0);
}

#[test]
fn concurrent_searches_and_writes() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<SearchIndex>();
    let idx = index();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let idx = idx.clone();
            s.spawn(move || {
                for _ in 0..50 {
                    let r = idx.search(&SearchQuery::new("diabete")).expect("search");
                    assert!((1..=5).contains(&r.total), "{}", r.total);
                }
            });
        }
        let idx = idx.clone();
        s.spawn(move || {
            for i in 0..5 {
                let group = vec![
                    cim("E11", "Diabète sucré de type 2"),
                    cim("E12", "Diabète sucré autre"),
                ];
                let mut group = group;
                if i % 2 == 0 {
                    group.pop();
                }
                idx.replace_group("nomenclature:IR_CIM_V", group, &format!("g{i}"))
                    .expect("write");
            }
        });
    });
}

#[test]
fn serde_round_trip() {
    let q: SearchQuery =
        serde_json::from_str(r#"{"text":"E11","filters":[["kind","code"]]}"#).expect("query json");
    assert_eq!(q.limit, 20);
    let idx = index();
    let r = idx.search(&q).expect("search");
    let json = serde_json::to_string(&r).expect("json");
    assert!(json.contains(r#""kind":"code""#), "{json}");
    let back: SearchResults = serde_json::from_str(&json).expect("back");
    assert_eq!(back, r);
    assert_eq!(DocKind::parse("variable"), Some(DocKind::Variable));
    assert_eq!(DocKind::parse("nope"), None);
    for k in [
        DocKind::Dataset,
        DocKind::Table,
        DocKind::Variable,
        DocKind::Code,
    ] {
        assert_eq!(DocKind::parse(k.as_str()), Some(k));
    }
}

/// Synthetic catalogue of the real size: 115k codes, 4 815 variables, 188
/// tables, 20 datasets.
fn synthetic(n_codes: usize) -> impl Iterator<Item = SearchDoc> {
    const WORDS: &[&str] = &[
        "diabète",
        "hypertension",
        "insuffisance",
        "cardiaque",
        "rénale",
        "chronique",
        "aiguë",
        "tumeur",
        "maligne",
        "bénigne",
        "fracture",
        "fémur",
        "infection",
        "pulmonaire",
        "séjour",
        "hospitalier",
        "médicament",
        "délivré",
        "prestation",
        "remboursée",
        "acte",
        "médical",
        "biologie",
        "consultation",
        "spécialiste",
        "généraliste",
        "patient",
        "bénéficiaire",
        "date",
        "décès",
        "naissance",
        "commune",
        "résidence",
        "département",
    ];
    let word = |i: usize| WORDS[i % WORDS.len()];
    let datasets = (0..20).map(move |i| {
        let mut d = doc(
            DocKind::Dataset,
            &format!("dataset:ds{i}"),
            &format!("ds{i}"),
            &format!("Jeu de données {i} — {} {}", word(i), word(i + 3)),
            None,
            &format!(
                "Description du jeu {} {} {} {}",
                word(i),
                word(i * 7),
                word(i * 11),
                word(i * 13)
            ),
        );
        d.facets = vec![
            ("producer".into(), format!("P{}", i % 4)),
            ("theme".into(), "HEAL".into()),
        ];
        d
    });
    let tables = (0..188).map(move |i| {
        let name = format!("T{i:03}_TAB_F");
        let mut d = doc(
            DocKind::Table,
            &format!("table:ds{}/{name}", i % 20),
            &format!("ds{}", i % 20),
            &format!("{name} — Table des {}", word(i)),
            Some(&name),
            &format!("Table {} {} {}", word(i * 3), word(i * 5), word(i * 7)),
        );
        d.facets = vec![("producer".into(), format!("P{}", i % 4))];
        d
    });
    let variables = (0..4815).map(move |i| {
        let name = format!("VAR_{i:04}_COD");
        let mut d = doc(
            DocKind::Variable,
            &format!("variable:ds{}/T{:03}_TAB_F/{name}", i % 20, i % 188),
            &format!("ds{}", i % 20),
            &name,
            Some(&name),
            &format!(
                "{} du {} ({} {})",
                word(i),
                word(i / 3),
                word(i / 7),
                word(i / 11)
            ),
        );
        d.facets = vec![("producer".into(), format!("P{}", i % 4))];
        d
    });
    let codes = (0..n_codes).map(move |i| {
        let code = format!("{}{:04}", (b'A' + (i % 26) as u8) as char, i / 26);
        let mut d = cim(
            &code,
            &format!(
                "{} {} {} {}",
                word(i),
                word(i / 5),
                word(i / 17),
                word(i / 101)
            ),
        );
        d.group = format!("nomenclature:N{}", i % 10);
        d.key = format!("code:N{}/{code}", i % 10);
        d
    });
    datasets.chain(tables).chain(variables).chain(codes)
}

/// Indexes a catalogue of the real size: 120 023 documents (the workspace
/// builds tantivy with opt-level 3 in dev, so this takes seconds; set
/// `HDH_SEARCH_SMALL=1` to index 20 023 documents only).
#[test]
fn indexes_a_full_size_catalogue() {
    let n_codes = if std::env::var_os("HDH_SEARCH_SMALL").is_some() {
        15_000
    } else {
        115_000
    };
    let idx = SearchIndex::in_ram().expect("ram");
    let expected = 20 + 188 + 4815 + n_codes;
    let start = Instant::now();
    let mut last = 0;
    let n = idx
        .replace_all(synthetic(n_codes), "big", &mut |c| last = c)
        .expect("replace_all");
    let took = start.elapsed();
    eprintln!("replace_all of {n} docs took {took:?}");
    assert_eq!(n, expected);
    assert_eq!(last, expected);
    assert_eq!(idx.doc_count(), expected as u64);

    let queries = [
        "insuffisance cardiaque",
        "A0042",
        "medicamnet",
        "diabete",
        "T042_TAB_F",
        "",
    ];
    let start = Instant::now();
    for q in queries {
        let r = search(&idx, q);
        assert!(r.total > 0, "{q}");
        assert!(!r.hits.is_empty(), "{q}");
    }
    eprintln!("{} queries took {:?}", queries.len(), start.elapsed());
    let r = search(&idx, "A0042");
    assert_eq!(r.hits[0].code.as_deref(), Some("A0042"));
    let r = search(&idx, "T042_TAB_F");
    assert_eq!(r.hits[0].key, "table:ds2/T042_TAB_F");
}
