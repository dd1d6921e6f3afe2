//! Contextual help: one short text per page, in French and English, shown
//! by every page under "Help on this page" with a link to the guide of the
//! role that acts there.

/// (page, role whose guide the page links to — or "" for the public "how it works" —,
/// French, English)
pub const PAGE_HELP: &[(&str, &str, &str, &str)] = &[
    (
        "home",
        "",
        "La page d'accueil du hub : cherchez des données dans le catalogue ou ouvrez l'un des jeux de données listés. Une fois connecté, « À faire maintenant » rassemble ce qui attend votre action selon vos rôles, et vos projets sont listés ici.",
        "The hub's home page: search the catalogue for data or open one of the datasets listed. Once signed in, “What to do now” gathers what is waiting for you in your roles, and your projects are listed here.",
    ),
    (
        "login",
        "",
        "Connectez-vous avec l'identifiant et le mot de passe que la plateforme vous a remis. Le catalogue, le registre public des projets et l'aide restent ouverts à tous sans compte ; déposer une demande, examiner un dossier ou livrer des données demande d'être connecté.",
        "Sign in with the username and password the hub gave you. The catalogue, the public registry of projects and the help are open to everyone without an account; applying, reviewing a file or delivering data requires signing in.",
    ),
    (
        "account",
        "",
        "Votre compte : vos rôles, vos sessions ouvertes (navigateur, adresse, dernier usage) et votre mot de passe. Fermez une session que vous ne reconnaissez pas, ou toutes d'un coup ; changer de mot de passe ferme vos autres sessions. Une session inutilisée se ferme d'elle-même.",
        "Your account: your roles, your open sessions (browser, address, last use) and your password. End a session you do not recognise, or all of them at once; changing your password ends your other sessions. An unused session ends by itself.",
    ),
    (
        "terms",
        "",
        "Les conditions d'utilisation du hub, que chaque titulaire d'un compte accepte avant sa première utilisation puis à chaque modification : usage personnel du compte, données utilisées seulement dans le projet autorisé, seuls des résultats agrégés vérifiés sortent, tout est tracé. Tant qu'elles ne sont pas acceptées, le compte ne peut rien faire d'autre que les lire ou se déconnecter.",
        "The hub's terms of use, which every account holder accepts before their first use and again at each change: the account is personal, data are used only in the authorised project, only checked aggregate results leave, everything is traced. Until they are accepted, the account can do nothing but read them or sign out.",
    ),
    (
        "admin_accounts",
        "admin",
        "La revue annuelle des comptes : chaque compte, ses rôles, sa dernière revue et sa date d'échéance ; les comptes en retard sont en tête. Vérifiez que la personne et ses rôles sont toujours justifiés, puis « Marquer comme revu » ; sinon suspendez le compte avec un motif. Un compte en retard au-delà du délai de grâce est suspendu automatiquement.",
        "The yearly review of accounts: every account, its roles, its last review and when the next is due; overdue accounts come first. Check that the person and their roles are still justified, then “Mark reviewed”; otherwise suspend the account with a reason. An account overdue past the grace period is suspended automatically.",
    ),
    (
        "error",
        "",
        "Cette page n'a pas pu être affichée ; le message ci-dessus en donne la raison, par exemple une page introuvable ou une action que votre rôle ne permet pas. Revenez à l'accueil, ou reconnectez-vous si votre session a expiré.",
        "This page could not be shown; the message above gives the reason, for example a page that does not exist or an action your role does not allow. Go back to the home page, or sign in again if your session has expired.",
    ),
    (
        "catalogue",
        "",
        "Le catalogue décrit les données disponibles : jeux de données, tables, variables et nomenclatures, avec des statistiques agrégées. Cherchez par mot-clé et affinez avec les filtres (producteur, thème, système de codage…) ; le schéma des tables montre comment elles se relient. Aucune donnée individuelle n'est affichée ici.",
        "The catalogue describes the data available: datasets, tables, variables and nomenclatures, with aggregate statistics. Search by keyword and narrow down with the filters (producer, theme, coding system…); the diagram shows how the tables join. No individual data is shown here.",
    ),
    (
        "dataset",
        "researcher",
        "La fiche d'un jeu de données : sa description, son producteur, la période couverte, ses conditions d'accès, ses tables et le rapport de qualité de la dernière version livrée. Vous y voyez aussi les projets qui l'utilisent ; le bouton « Demander l'accès », en bas de page, ouvre une demande portant sur ces données.",
        "A dataset's page: its description, its producer, the period covered, its access conditions, its tables and the quality report of the latest version delivered. It also shows the projects that use it; the “Apply for access” button at the bottom starts a request for this data.",
    ),
    (
        "table",
        "researcher",
        "Le détail d'une table : ses variables avec leur type, leur description et leur nomenclature, ses clés et les tables auxquelles elle se joint. La complétude indique la part de lignes où chaque variable est renseignée ; cliquez sur une variable pour voir la distribution de ses valeurs.",
        "A table in detail: its variables with their type, description and nomenclature, its keys and the tables it joins to. Completeness is the share of rows where each variable is filled in; click a variable to see how its values are distributed.",
    ),
    (
        "deliver",
        "producer",
        "Déposez ici une nouvelle version d'un jeu de données : pour chaque table, un fichier CSV et son schéma, avec des identifiants de personne déjà pseudonymisés. Le hub vérifie tout ; une seule erreur rejette la livraison entière, et le rapport indique le fichier, la ligne et la colonne à corriger. Une livraison acceptée est publiée comme nouvelle version dans le catalogue.",
        "Upload a new version of a dataset here: for each table, a CSV file and its schema, with person identifiers already pseudonymised. The hub checks everything; a single error rejects the whole delivery, and the report names the file, line and column to fix. An accepted delivery is published as a new version in the catalogue.",
    ),
    (
        "requests",
        "secretariat",
        "Les demandes d'accès qui vous concernent. Le chercheur y suit chacune des siennes : son état, qui doit agir et l'échéance ; le secrétariat, le comité et l'autorité y trouvent les dossiers qui attendent leur examen, avec les jours restants. Ouvrez une demande pour la lire et agir.",
        "The access requests that concern you. Researchers follow each of theirs here: its state, who must act and the deadline; the secretariat, the committee and the authority find the files waiting for their review, with the days left. Open a request to read it and act.",
    ),
    (
        "registry",
        "",
        "Le registre public de tous les projets : chaque demande d'accès y figure dès son dépôt, avec son objet, son responsable, les données demandées, son état et les dates de l'avis et de la décision. Filtrez par état ou par jeu de données, ou téléchargez la liste (CSV, JSON, flux Atom).",
        "The public registry of every project: each access request appears here from its submission, with its purpose, who leads it, the data asked for, where it stands and the dates of the opinion and the decision. Filter by state or dataset, or download the list (CSV, JSON, Atom feed).",
    ),
    (
        "statistics",
        "",
        "Les délais d'instruction des demandes, publiés pour tous : pour chaque étape, la durée médiane et le 90e centile en jours ouvrés, la part traitée dans les délais, et les dossiers en cours ou en retard aujourd'hui. Plus bas, le nombre de demandes déposées chaque mois.",
        "How long requests take to be reviewed, published for everyone: for each step, the median and 90th percentile in working days, the share done on time, and the files running or overdue today. Further down, the number of requests submitted each month.",
    ),
    (
        "request_new",
        "researcher",
        "Le formulaire de demande d'accès (ou d'avenant) : finalité, intérêt public, équipe, méthode, financement, critères qui définissent la population, et exactement les variables nécessaires. Une fois créé, le brouillon s'enregistre au fil de la saisie. Rien n'est transmis tant que vous ne l'avez pas déposé depuis la page de la demande ; le secrétariat en vérifie alors la complétude.",
        "The form to apply for access (or amend a project): purpose, public interest, team, method, funding, the criteria that define the population, and exactly the variables needed. Once created, the draft is saved as you type. Nothing is sent until you submit it from the request's page; the secretariat then checks that it is complete.",
    ),
    (
        "request",
        "secretariat",
        "Le dossier d'une demande et son avancement : le chercheur le dépose, le secrétariat vérifie sa complétude, puis, selon le circuit, le comité rend un avis, l'autorité décide et chaque producteur concerné donne son accord. Les boutons d'action n'apparaissent qu'à la personne qui doit agir à l'étape en cours ; chaque action est inscrite à l'historique et ne peut pas être annulée. Une fois la demande autorisée, le hub prépare l'espace du projet.",
        "A request's file and where it stands: the researcher submits it, the secretariat checks it is complete, then, depending on the route, the committee gives an opinion, the authority decides and each producer involved agrees. Action buttons appear only to the person who must act at the current step; every action is written to the history and cannot be undone. Once the request is authorised, the hub prepares the project's workspace.",
    ),
    (
        "request_declare",
        "committee",
        "Vous avez été désigné rapporteur de cette demande : avant de lire le dossier complet, déclarez si vous avez un lien d'intérêts avec le demandeur, l'équipe ou le projet. Sans lien, le dossier s'ouvre et vous pourrez rendre votre avis. Si vous avez un lien, décrivez-le : vous êtes déporté et le secrétariat désigne un autre rapporteur.",
        "You were assigned to review this request: before reading the full file, declare whether you have any interest in the applicant, the team or the project. With none, the file opens and you can give your opinion. If you have one, describe it: you are recused and the secretariat assigns another reviewer.",
    ),
    (
        "inbox",
        "",
        "Vos notifications : chaque événement qui vous concerne (demande déposée ou renvoyée, décision, sortie à contrôler…), avec un lien vers la page où agir. La dernière colonne dit si la copie par courriel est partie ; « Tout marquer comme lu » remet à zéro le compteur du menu.",
        "Your notifications: every event that concerns you (a request submitted or sent back, a decision, a release to check…), with a link to the page where you act. The last column says whether the e-mail copy was sent; “Mark all read” clears the counter in the menu.",
    ),
    (
        "registry_project",
        "",
        "La fiche publique d'un projet, visible de tous sans compte : son objet, son intérêt public, son équipe, les données utilisées, l'avis du comité et la décision de l'autorité. Elle montre aussi l'activité du projet, ses sorties de résultats et, à la clôture, ses résultats.",
        "A project's public page, open to everyone without an account: its purpose, its public interest, its team, the data used, the committee's opinion and the authority's decision. It also shows the project's activity, its releases of results and, once it is closed, its results.",
    ),
    (
        "project",
        "researcher",
        "L'espace de travail sécurisé d'un projet autorisé : les seules données autorisées (tables, variables, période, personnes), sous des pseudonymes propres au projet, et une console SQL en lecture seule pour les analyser. Rien ne sort d'ici directement : pour emporter un tableau agrégé, demandez sa sortie, et des contrôleurs le vérifient avant qu'il soit téléchargeable. Un jeton permet d'interroger ces mêmes données depuis Python ou R.",
        "The secure workspace of an authorised project: only the approved data (tables, variables, period, persons), under pseudonyms of the project's own, and a read-only SQL console to analyse it. Nothing leaves from here directly: to take out an aggregate table, ask for its release, and checkers review it before it can be downloaded. A token lets you query the same data from Python or R.",
    ),
    (
        "releases",
        "checker",
        "La file des demandes de sortie de résultats soumises, en attente de contrôle. Ouvrez-en une pour examiner chaque fichier avec le verdict du hub sur chaque cellule. Vous ne contrôlez jamais les sorties de vos propres projets.",
        "The queue of submitted requests to release results, waiting to be checked. Open one to review each file with the hub's verdict on every cell. You never check the releases of your own projects.",
    ),
    (
        "release",
        "checker",
        "Une demande de sortie de résultats : le chercheur y ajoute ses tableaux, textes et figures puis la soumet, et le hub vérifie chaque cellule des tableaux (secret statistique). Des contrôleurs indépendants approuvent ou renvoient chaque fichier ; un fichier modifié perd ses approbations. Quand le nombre d'approbations requis est atteint, la sortie rend les fichiers téléchargeables par l'équipe du projet, et elle est enregistrée.",
        "A request to release results: the researcher adds tables, texts and figures, then submits it, and the hub checks every cell of the tables (statistical disclosure). Independent checkers approve or return each file; a changed file loses its approvals. Once enough approvals are in, releasing makes the files downloadable by the project's team, and the release is recorded.",
    ),
    (
        "audit",
        "security_officer",
        "Le journal d'audit : chaque action sur le hub, dans l'ordre, avec qui l'a faite, quand, sous quel rôle, sur quel objet et avec quel résultat. Il est chaîné, si bien qu'aucun événement ne peut être modifié ou supprimé sans que cela se voie. Filtrez par acteur, action, projet, résultat ou date.",
        "The audit trail: every action on the hub, in order, with who did it, when, in which role, on what and with what outcome. It is chained, so no event can be changed or deleted without it showing. Filter by actor, action, project, outcome or date.",
    ),
    (
        "variable",
        "researcher",
        "Le détail d'une variable : son type, sa nomenclature, ses règles de gestion et la distribution de ses valeurs. Les effectifs inférieurs au seuil de secret statistique sont masqués, pour que personne ne puisse être reconnu.",
        "A variable in detail: its type, its nomenclature, its rules and how its values are distributed. Counts under the statistical disclosure threshold are hidden, so that nobody can be recognised.",
    ),
    (
        "diagram",
        "researcher",
        "Le schéma des tables de chaque source : chaque flèche est une clé étrangère, qui relie une table à celle qu'elle référence. Il aide à choisir quelles tables joindre, et par quelles variables, avant de préparer une demande.",
        "The diagram of each source's tables: each arrow is a foreign key, linking a table to the one it references. It helps you choose which tables to join, and on which variables, before you prepare a request.",
    ),
    (
        "nomenclatures",
        "researcher",
        "La liste des nomenclatures, c'est-à-dire les référentiels de codes (médicaments, diagnostics, actes…) utilisés par les variables du catalogue, avec leur source et leur nombre de codes. Ouvrez-en une pour y chercher un code ou un libellé.",
        "The list of nomenclatures, that is the code lists (drugs, diagnoses, procedures…) used by the catalogue's variables, with their source and number of codes. Open one to search it for a code or a label.",
    ),
    (
        "nomenclature",
        "researcher",
        "Tous les codes d'une nomenclature, avec leurs libellés. Cherchez un code ou un mot pour trouver les valeurs à utiliser, par exemple dans les critères de sélection de la population d'une demande.",
        "All the codes of a nomenclature, with their labels. Search for a code or a word to find the values to use, for example in the criteria that select a request's population.",
    ),
    (
        "quality",
        "producer",
        "Le rapport de qualité d'une version livrée, calculé par le hub : complétude de chaque variable, doublons, références orphelines, règles de cohérence et changements depuis la version précédente. Il montre aux producteurs ce qu'il faut corriger et aux chercheurs les limites des données ; les identifiants de personnes n'y figurent que sous forme de comptes.",
        "The quality report of a delivered version, computed by the hub: completeness of each variable, duplicates, orphan references, coherence rules and changes since the previous version. It shows producers what to fix and researchers the limits of the data; person identifiers appear only as counts.",
    ),
    (
        "ingestion",
        "producer",
        "Le suivi d'une livraison : son état et sa progression, table par table ; la page se met à jour seule pendant le traitement. Les erreurs trouvées sont listées avec le fichier, la ligne et la colonne. Une livraison rejetée ou en échec ne publie rien : corrigez-la, puis envoyez-la à nouveau.",
        "A delivery's progress: its state, table by table; the page updates itself while the delivery is processed. The errors found are listed with the file, line and column. A rejected or failed delivery publishes nothing: fix it, then send it again.",
    ),
    (
        "alerts",
        "security_officer",
        "Les alertes de sécurité, levées automatiquement par des règles qui lisent le journal d'audit ; chacune cite les événements qui la fondent. Accusez réception, assignez-la à une personne, puis clôturez-la avec une note : chaque étape est inscrite au journal d'audit.",
        "Security alerts, raised automatically by rules that read the audit trail; each cites the events behind it. Acknowledge it, assign it to someone, then close it with a note: each step is written to the audit trail.",
    ),
    (
        "linkage",
        "admin",
        "Les tables de liens relient les enregistrements de deux jeux de données qui concernent la même personne. Lancez ici un appariement en décrivant les deux côtés et les réglages du modèle ; chaque calcul crée une nouvelle version. Une version ne sert aux projets qu'une fois vérifiée et publiée depuis sa page.",
        "Link tables join the records of two datasets that are about the same person. Start a linkage here by describing both sides and the model's settings; each run creates a new version. A version is used for projects only once it has been checked and published from its page.",
    ),
    (
        "linkage_job",
        "admin",
        "Le résultat d'un appariement : nombre de liens, précision et rappel estimés, et poids du modèle. Dites pour chaque paire de l'échantillon s'il s'agit de la même personne : vos réponses mesurent la précision réelle près du seuil. Publier rend cette version utilisable pour les projets qui demandent les deux jeux de données.",
        "The result of a linkage: number of links, estimated precision and recall, and the model's weights. Say for each pair in the sample whether it is the same person: your answers measure the real precision near the threshold. Publishing makes this version usable for the projects that ask for both datasets.",
    ),
    (
        "help",
        "",
        "Cette page explique le parcours d'un projet, de la demande aux résultats, et ce que fait chaque rôle, avec un lien vers sa page de travail ; votre rôle y est signalé. Les citoyens y trouvent comment suivre les projets et s'opposer à l'utilisation de leurs données.",
        "This page explains the path of a project, from request to results, and what each role does, with a link to where it works; your role is marked. Citizens find how to follow the projects and how to object to their data being used.",
    ),
];

/// The help of a page (its template's name without `.html`).
pub fn page_help(
    page: &str,
) -> Option<&'static (&'static str, &'static str, &'static str, &'static str)> {
    PAGE_HELP.iter().find(|p| p.0 == page)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: &[&str] = &[
        "producer",
        "researcher",
        "secretariat",
        "committee",
        "authority",
        "checker",
        "security_officer",
        "admin",
    ];

    /// The templates' names without `.html`: `all` of them, and the `pages`
    /// (those that extend base.html; the others are partials, such as
    /// confirm.html, included in a page).
    fn templates() -> (Vec<String>, Vec<String>) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let (mut all, mut pages) = (Vec::new(), Vec::new());
        for e in std::fs::read_dir(dir).expect("templates directory") {
            let path = e.expect("directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(name) = name.strip_suffix(".html") else {
                continue;
            };
            if name == "base" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("template");
            if text.contains(r#"{% extends "base.html" %}"#) {
                pages.push(name.to_string());
            }
            all.push(name.to_string());
        }
        all.sort();
        pages.sort();
        (all, pages)
    }

    #[test]
    fn every_page_has_exactly_one_entry() {
        let (all, pages) = templates();
        assert!(!pages.is_empty());
        for p in &pages {
            let n = PAGE_HELP.iter().filter(|h| h.0 == p.as_str()).count();
            assert_eq!(n, 1, "{p}.html has {n} help entries");
            assert!(page_help(p).is_some());
        }
        // A partial may have its help too (quality.html, a section of the
        // dataset's page), but at most one, and no entry names a template
        // that does not exist.
        for h in PAGE_HELP {
            assert!(all.iter().any(|p| p == h.0), "no template {}.html", h.0);
            let n = PAGE_HELP.iter().filter(|x| x.0 == h.0).count();
            assert_eq!(n, 1, "{}.html has {n} help entries", h.0);
        }
        assert!(page_help("base").is_none());
    }

    #[test]
    fn roles_and_texts() {
        for (page, role, fr, en) in PAGE_HELP {
            assert!(
                role.is_empty() || ROLES.contains(role),
                "{page}: role {role}"
            );
            assert!(!fr.trim().is_empty(), "{page}: French is empty");
            assert!(!en.trim().is_empty(), "{page}: English is empty");
            assert_ne!(fr, en, "{page}: French and English are the same");
        }
    }
}
