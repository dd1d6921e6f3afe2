//! French and English for the pages. The language comes from `?lang=`, then
//! the `hdh_lang` cookie, then `Accept-Language`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().get(..2)?.to_ascii_lowercase().as_str() {
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// (key, French, English)
const STRINGS: &[(&str, &str, &str)] = &[
    ("title", "Titre", "Title"),
    ("state", "État", "State"),
    ("kind.dataset", "Jeu de données", "Dataset"),
    ("kind.table", "Table", "Table"),
    ("kind.variable", "Variable", "Variable"),
    ("kind.code", "Code", "Code"),
    ("facet.kind", "Type", "Kind"),
    ("facet.producer", "Producteur", "Producer"),
    ("facet.product", "Produit", "Product"),
    ("facet.theme", "Thème", "Theme"),
    ("facet.coding_system", "Système de codage", "Coding system"),
    (
        "catalog.diagram",
        "Schéma des tables et de leurs jointures",
        "Tables and their joins",
    ),
    (
        "catalog.diagram_note",
        "Chaque flèche est une clé étrangère : elle relie les variables d'une table à la table qu'elles référencent. Le SNDS est une étoile autour du référentiel des bénéficiaires IR_BEN_R.",
        "Each arrow is a foreign key from a table's variables to the table they reference. The SNDS is a star around the beneficiary register IR_BEN_R.",
    ),
    ("catalog.joins", "jointures", "joins"),
    ("catalog.nomenclatures", "Nomenclatures", "Nomenclatures"),
    ("catalog.export", "Export :", "Export:"),
    ("catalog.records", "Enregistrements", "Records"),
    (
        "catalog.individuals",
        "Personnes distinctes",
        "Unique individuals",
    ),
    (
        "catalog.period_covered",
        "Période couverte (données)",
        "Period covered (data)",
    ),
    (
        "catalog.computed",
        "Statistiques calculées sur la version",
        "Statistics computed on version",
    ),
    (
        "catalog.described_only",
        "décrit, non livré",
        "described, not delivered",
    ),
    ("catalog.publisher", "Diffuseur", "Publisher"),
    ("catalog.contact", "Contact", "Contact point"),
    ("catalog.keywords", "Mots-clés", "Keywords"),
    ("catalog.temporal", "Période", "Temporal coverage"),
    (
        "catalog.spatial",
        "Couverture géographique",
        "Spatial coverage",
    ),
    ("catalog.population", "Population", "Population"),
    ("catalog.ages", "Âges typiques", "Typical ages"),
    (
        "catalog.frequency",
        "Fréquence de mise à jour",
        "Update frequency",
    ),
    ("catalog.access_rights", "Droits d'accès", "Access rights"),
    ("catalog.purpose", "Finalité", "Purpose"),
    ("catalog.quality", "Qualité", "Quality"),
    (
        "catalog.projects",
        "Projets utilisant ces données",
        "Projects using this data",
    ),
    (
        "catalog.no_projects",
        "Aucun projet autorisé n'utilise encore ces données.",
        "No authorised project uses this data yet.",
    ),
    ("catalog.apply", "Demander l'accès", "Apply for access"),
    ("catalog.keys", "Clés", "Keys"),
    ("catalog.foreign_key", "Clé étrangère", "Foreign key"),
    ("catalog.referenced_by", "Référencée par", "Referenced by"),
    (
        "catalog.not_in_catalogue",
        "absente du catalogue",
        "not in the catalogue",
    ),
    ("catalog.completeness", "Complétude", "Completeness"),
    ("catalog.deleted", "Supprimée", "Removed"),
    ("catalog.created", "Créée", "Created"),
    ("catalog.length", "longueur", "length"),
    ("catalog.rule", "Règle de gestion", "Management rule"),
    ("catalog.observation", "Observation", "Note"),
    ("catalog.distribution", "Distribution", "Distribution"),
    ("catalog.distinct", "Valeurs distinctes", "Distinct values"),
    (
        "catalog.suppression_note",
        "Effectifs calculés sur les données publiées ; ceux inférieurs au seuil sont masqués : seuil =",
        "Counts computed from the published data; those under the threshold are hidden: threshold =",
    ),
    (
        "catalog.hidden",
        "Distribution non affichée",
        "Distribution not shown",
    ),
    ("catalog.other_values", "Autres valeurs", "Other values"),
    ("catalog.code", "Code", "Code"),
    ("catalog.label", "Libellé", "Label"),
    (
        "catalog.no_data",
        "Aucune donnée livrée : la distribution sera calculée à la première livraison.",
        "No data delivered: the distribution is computed at the first delivery.",
    ),
    (
        "catalog.empty",
        "Le catalogue est vide.",
        "The catalogue is empty.",
    ),
    ("catalog.source", "Source", "Source"),
    ("catalog.codes", "Codes", "Codes"),
    (
        "catalog.code_search",
        "Code ou libellé (ex. E11, diabète)",
        "Code or label (e.g. E11, diabète)",
    ),
    ("catalog.all_codes", "tous les codes", "all codes"),
    ("hub", "Plateforme des données de santé", "Health data hub"),
    ("nav.catalogue", "Catalogue", "Catalogue"),
    ("nav.requests", "Demandes d'accès", "Access requests"),
    ("nav.projects", "Projets", "Projects"),
    ("nav.deliver", "Livrer des données", "Deliver data"),
    ("nav.releases", "Sorties à contrôler", "Releases to check"),
    ("nav.audit", "Journal d'audit", "Audit trail"),
    ("nav.signin", "Se connecter", "Sign in"),
    ("nav.signout", "Se déconnecter", "Sign out"),
    (
        "home.intro",
        "Trouvez des données de santé, déposez une demande d'accès au guichet unique, analysez les données approuvées dans un espace projet sécurisé et n'en sortez que des résultats agrégés contrôlés.",
        "Find health data, apply for access at the single desk, analyse the approved data in a secure project workspace, and take out only checked aggregate results.",
    ),
    ("home.your_roles", "Vos rôles", "Your roles"),
    ("login.username", "Identifiant", "Username"),
    ("login.password", "Mot de passe", "Password"),
    ("search", "Rechercher", "Search"),
    (
        "search.placeholder",
        "médicament, diagnostic, BEN_NIR_PSA…",
        "drug, diagnosis, BEN_NIR_PSA…",
    ),
    ("results", "Résultats", "Results"),
    ("dataset", "Jeu de données", "Dataset"),
    ("datasets", "Jeux de données", "Datasets"),
    ("producer", "Producteur", "Producer"),
    ("description", "Description", "Description"),
    ("tables", "Tables", "Tables"),
    ("table", "Table", "Table"),
    ("rows", "Lignes", "Rows"),
    ("variables", "Variables", "Variables"),
    ("variable", "Variable", "Variable"),
    ("type", "Type", "Type"),
    ("nomenclature", "Nomenclature", "Nomenclature"),
    ("versions", "Versions", "Versions"),
    ("version", "Version", "Version"),
    ("published", "Publiée le", "Published"),
    ("coverage", "Couverture", "Coverage"),
    ("legal_basis", "Base légale", "Legal basis"),
    (
        "access_conditions",
        "Conditions d'accès",
        "Access conditions",
    ),
    (
        "identifier",
        "Identifiant de personne (pseudonymisé)",
        "Person identifier (pseudonymised)",
    ),
    ("period_field", "Date de période", "Period date"),
    (
        "deliver.title",
        "Livrer une nouvelle version",
        "Deliver a new version",
    ),
    (
        "deliver.help",
        "Envoyez pour chaque table T un fichier T.csv et son schéma T.schema.json (Table Schema), et éventuellement dataset.json. Les identifiants de personne doivent déjà être pseudonymisés (niveau 1, 32 caractères hexadécimaux) : pour des données avec NIR, préparez un paquet signé avec « hdh producer prepare » puis envoyez-le avec « hdh producer send ». Tout est validé ; une seule erreur rejette toute la livraison.",
        "Send for each table T a file T.csv and its schema T.schema.json (Table Schema), and optionally dataset.json. Person identifiers must already be pseudonymised (level 1, 32 hexadecimal characters): for data holding NIRs, prepare a signed package with “hdh producer prepare” and send it with “hdh producer send”. Everything is validated; a single error rejects the whole delivery.",
    ),
    (
        "deliver.dataset_id",
        "Identifiant du jeu de données",
        "Dataset identifier",
    ),
    ("deliver.files", "Fichiers", "Files"),
    ("deliver.submit", "Livrer", "Deliver"),
    (
        "deliver.accepted",
        "Livraison acceptée : version publiée",
        "Delivery accepted: version published",
    ),
    (
        "deliver.rejected",
        "Livraison rejetée : rien n'a été chargé",
        "Delivery rejected: nothing was loaded",
    ),
    (
        "quality.title",
        "Qualité de la livraison",
        "Delivery quality",
    ),
    (
        "quality.intro",
        "Mesures calculées par la plateforme sur les données livrées de cette version : complétude, doublons, intégrité référentielle, règles de cohérence et évolution depuis la version précédente. Les identifiants de personnes n'y figurent que sous forme de comptes.",
        "Measured by the hub on this version's delivered data: completeness, duplicates, referential integrity, coherence rules and changes since the previous version. Person identifiers appear only as counts.",
    ),
    ("quality.issues", "Points d'attention", "Issues"),
    (
        "quality.no_issues",
        "Aucun problème détecté.",
        "No issue found.",
    ),
    (
        "quality.tables",
        "Lignes et doublons par table",
        "Rows and duplicates per table",
    ),
    (
        "quality.quarantined",
        "Lignes en quarantaine",
        "Quarantined rows",
    ),
    (
        "quality.duplicate_rows",
        "Lignes en double",
        "Duplicate rows",
    ),
    (
        "quality.duplicate_keys",
        "Clés primaires répétées",
        "Repeated primary keys",
    ),
    (
        "quality.no_primary_key",
        "Pas de clé primaire",
        "No primary key",
    ),
    (
        "quality.columns",
        "Complétude et validité des variables de",
        "Completeness and validity of the columns of",
    ),
    ("quality.nulls", "Valeurs manquantes", "Missing values"),
    ("quality.invalid", "Valeurs invalides", "Invalid values"),
    (
        "quality.identifier_counts_only",
        "Identifiant de personne : comptes seulement",
        "Person identifier: counts only",
    ),
    (
        "quality.references",
        "Intégrité référentielle",
        "Referential integrity",
    ),
    (
        "quality.references_caption",
        "Lignes dont la clé étrangère ne trouve aucune ligne dans la table référencée (lignes orphelines ; une clé incomplète n'est pas vérifiée)",
        "Rows whose foreign key finds no row in the referenced table (orphan rows; a key with a missing part is not checked)",
    ),
    (
        "quality.referenced_table",
        "Table référencée",
        "Referenced table",
    ),
    ("quality.rows_checked", "Lignes vérifiées", "Rows checked"),
    ("quality.orphans", "Lignes orphelines", "Orphan rows"),
    (
        "quality.coherence",
        "Règles de cohérence",
        "Coherence rules",
    ),
    (
        "quality.coherence_caption",
        "Règles déclarées par le producteur (qualityRules) ; une ligne où une date manque n'est pas vérifiée",
        "Rules declared by the producer (qualityRules); a row missing a date is not checked",
    ),
    ("quality.rule", "Règle", "Rule"),
    (
        "quality.violations",
        "Lignes en infraction",
        "Rows breaking the rule",
    ),
    (
        "quality.not_before",
        "n'est pas antérieur à",
        "is not before",
    ),
    (
        "quality.not_after",
        "n'est pas postérieur à",
        "is not after",
    ),
    ("quality.joined_on", "jointure sur", "joined on"),
    ("quality.not_checked", "non vérifiée", "not checked"),
    ("quality.since", "Évolution depuis", "Changes since"),
    (
        "quality.row_counts",
        "Nombre de lignes par table",
        "Row count per table",
    ),
    ("quality.drift", "Évolution", "Change"),
    (
        "quality.structure",
        "Tables et variables ajoutées ou retirées",
        "Tables and columns added or removed",
    ),
    ("quality.added_tables", "Tables ajoutées", "Tables added"),
    (
        "quality.removed_tables",
        "Tables retirées",
        "Tables removed",
    ),
    (
        "quality.added_columns",
        "Variables ajoutées",
        "Columns added",
    ),
    (
        "quality.removed_columns",
        "Variables retirées",
        "Columns removed",
    ),
    (
        "quality.new_codes",
        "Codes nouveaux (absents de la version précédente)",
        "New codes (absent from the previous version)",
    ),
    ("quality.new_code_count", "Codes nouveaux", "New codes"),
    ("quality.examples", "Exemples", "Examples"),
    (
        "quality.no_change",
        "Aucun changement de structure ni de volume.",
        "No change in structure or volume.",
    ),
    ("ingest.title", "Livraison de", "Delivery of"),
    ("ingest.deliveries", "Livraisons", "Deliveries"),
    ("ingest.started", "Commencée", "Started"),
    ("ingest.updated", "Mise à jour", "Updated"),
    ("ingest.progress", "Progression", "Progress"),
    ("ingest.row", "Ligne (rang)", "Row"),
    (
        "ingest.refresh",
        "Cette page se met à jour toute seule pendant le traitement.",
        "This page updates itself while the delivery is processed.",
    ),
    (
        "ingest.retry_help",
        "Rien n'a été publié. Relancez-la avec POST /api/ingestions/{id}/retry, ou hdh producer send à nouveau.",
        "Nothing was published. Retry it with POST /api/ingestions/{id}/retry, or run hdh producer send again.",
    ),
    ("ingest.state.queued", "en attente", "queued"),
    (
        "ingest.state.verifying",
        "vérification de la signature",
        "verifying the signature",
    ),
    ("ingest.state.validating", "validation", "validating"),
    ("ingest.state.publishing", "publication", "publishing"),
    ("ingest.state.published", "publiée", "published"),
    ("ingest.state.rejected", "rejetée", "rejected"),
    ("ingest.state.failed", "échouée", "failed"),
    ("file", "Fichier", "File"),
    ("line", "Ligne", "Line"),
    ("column", "Colonne", "Column"),
    ("field", "Champ", "Field"),
    ("reason", "Motif", "Reason"),
    ("errors_total", "erreurs au total", "errors in total"),
    ("req.new", "Nouvelle demande d'accès", "New access request"),
    ("req.title", "Titre du projet", "Project title"),
    ("req.purpose", "Finalité", "Purpose"),
    (
        "req.public_interest",
        "Justification de l'intérêt public",
        "Public-interest justification",
    ),
    ("req.period", "Période", "Period"),
    ("req.period_start", "Début de période", "Period start"),
    ("req.period_end", "Fin de période", "Period end"),
    ("req.duration", "Durée (mois)", "Duration (months)"),
    (
        "req.scope",
        "Tables et variables demandées",
        "Tables and variables requested",
    ),
    ("req.create", "Enregistrer le brouillon", "Save draft"),
    ("req.state", "État", "State"),
    ("req.history", "Historique", "History"),
    ("req.applicant", "Demandeur", "Applicant"),
    ("req.actions", "Actions", "Actions"),
    ("req.none", "Aucune demande.", "No request."),
    (
        "req.to_review",
        "À instruire par vous",
        "Awaiting your review",
    ),
    ("req.mine", "Mes demandes", "My requests"),
    ("req.all", "Toutes les demandes", "All requests"),
    ("req.project", "Espace projet", "Project workspace"),
    ("action.submit", "Soumettre", "Submit"),
    ("action.approve", "Approuver", "Approve"),
    ("action.send_back", "Renvoyer au demandeur", "Send back"),
    ("action.refuse", "Refuser", "Refuse"),
    ("action.withdraw", "Retirer", "Withdraw"),
    ("action.close", "Clore le projet", "Close the project"),
    ("state.draft", "Brouillon", "Draft"),
    (
        "state.submitted",
        "Soumise — vérification de complétude (secrétariat)",
        "Submitted — completeness check (secretariat)",
    ),
    (
        "state.ethics_review",
        "Avis du comité éthique",
        "Ethics committee opinion",
    ),
    (
        "state.authority_review",
        "Décision de l'autorité",
        "Authority decision",
    ),
    (
        "state.authorised",
        "Autorisée — mise à disposition",
        "Authorised — provisioning",
    ),
    ("state.active", "Projet actif", "Project active"),
    ("state.sent_back", "Renvoyée au demandeur", "Sent back"),
    ("state.refused", "Refusée", "Refused"),
    ("state.withdrawn", "Retirée", "Withdrawn"),
    ("state.closed", "Close", "Closed"),
    ("ws.console", "Console SQL", "SQL console"),
    ("ws.run", "Exécuter", "Run"),
    (
        "ws.tables",
        "Tables de l'extraction",
        "Tables of the extraction",
    ),
    ("ws.truncated", "Résultat tronqué", "Result truncated"),
    (
        "ws.release",
        "Demander la sortie de ce résultat",
        "Ask to release this result",
    ),
    (
        "ws.release_desc",
        "Ce que c'est, et la population concernée",
        "What it is, and the population behind it",
    ),
    ("ws.releases", "Demandes de sortie", "Release requests"),
    ("ws.page", "Page", "Page"),
    ("rel.state", "État", "State"),
    (
        "rel.suppressed",
        "cellules masquées (effectif < seuil)",
        "cells suppressed (count under the threshold)",
    ),
    ("rel.warnings", "Remarques", "Remarks"),
    ("rel.download", "Télécharger", "Download"),
    ("rel.decide", "Décision du contrôleur", "Checker's decision"),
    (
        "rel.preview",
        "Résultat tel qu'il sortirait",
        "The result as it would leave",
    ),
    (
        "rel.pending_review",
        "En attente de contrôle",
        "Pending review",
    ),
    ("rel.approved", "Approuvée", "Approved"),
    ("rel.refused", "Refusée", "Refused"),
    ("audit.filters", "Filtres", "Filters"),
    ("audit.actor", "Acteur", "Actor"),
    ("audit.action", "Action", "Action"),
    ("audit.project", "Projet", "Project"),
    ("audit.outcome", "Résultat", "Outcome"),
    ("audit.since", "Depuis", "Since"),
    ("audit.when", "Quand", "When"),
    ("audit.object", "Objet", "Object"),
    ("audit.role", "Rôle", "Role"),
    ("audit.details", "Détails", "Details"),
    ("audit.client", "Adresse", "Address"),
    ("apply", "Appliquer", "Apply"),
    ("error", "Erreur", "Error"),
    ("back", "Retour", "Back"),
    ("rows.count", "lignes", "rows"),
    ("manifest", "Manifeste", "Manifest"),
    ("primary_key", "Clé primaire", "Primary key"),
    ("identifier.short", "ID personne", "person ID"),
    (
        "action.provisioned",
        "Espace projet mis à disposition",
        "Workspace provisioned",
    ),
    ("step.draft", "Brouillon", "Draft"),
    ("step.submitted", "Complétude", "Completeness"),
    ("step.ethics_review", "Comité éthique", "Ethics committee"),
    ("step.authority_review", "Autorité", "Authority"),
    ("step.authorised", "Mise à disposition", "Provisioning"),
    ("step.active", "Projet actif", "Project active"),
    ("rel.threshold", "seuil", "threshold"),
    ("rel.counts", "Effectifs", "Counts"),
    ("rel.keys", "Clés de regroupement", "Group keys"),
    (
        "error.internal",
        "Erreur interne : l'incident est journalisé sous la référence",
        "Internal error: the incident is logged under reference",
    ),
];

pub fn t(lang: Lang, key: &str) -> String {
    match STRINGS.iter().find(|(k, _, _)| *k == key) {
        Some((_, fr, en)) => match lang {
            Lang::Fr => fr.to_string(),
            Lang::En => en.to_string(),
        },
        None => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_both_languages_present() {
        let mut keys: Vec<_> = STRINGS.iter().map(|s| s.0).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
        assert!(
            STRINGS
                .iter()
                .all(|(_, fr, en)| !fr.is_empty() && !en.is_empty())
        );
        assert_eq!(t(Lang::Fr, "nav.catalogue"), "Catalogue");
        assert_eq!(t(Lang::En, "missing.key"), "missing.key");
        assert_eq!(Lang::parse("fr-FR,fr;q=0.9"), Some(Lang::Fr));
    }
}
