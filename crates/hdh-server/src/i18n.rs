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
    ("nav.skip", "Aller au contenu", "Skip to content"),
    ("nav.help", "Aide", "Help"),
    ("nav.breadcrumb", "Fil d'Ariane", "Breadcrumb"),
    ("nav.home", "Accueil", "Home"),
    (
        "alerts.per_day",
        "Alertes par jour, 30 derniers jours",
        "Alerts per day, last 30 days",
    ),
    (
        "alerts.per_day_help",
        "Les alertes de la liste ci-dessous, par jour de déclenchement (UTC).",
        "The alerts listed below, by the day they fired (UTC).",
    ),
    ("alerts.day", "Jour", "Day"),
    ("help.this_page", "Aide sur cette page", "Help on this page"),
    (
        "help.guide_of",
        "Le guide du rôle",
        "The guide for the role",
    ),
    ("ws.crumb", "Espace projet", "Project workspace"),
    (
        "confirm.irreversible",
        "Je confirme : cette action est définitive.",
        "I confirm: this cannot be undone.",
    ),
    ("help.title", "Comment ça marche", "How it works"),
    (
        "help.intro",
        "Le hub met à disposition des données de santé pseudonymisées pour des projets d'intérêt public. Aucune donnée individuelle ne sort : les chercheurs travaillent dans un espace sécurisé et n'en sortent que des résultats agrégés, vérifiés. Chaque projet est public et chaque action est tracée.",
        "The hub makes pseudonymised health data available to projects in the public interest. No individual data ever leaves: researchers work in a secure workspace and take out only aggregate results, checked first. Every project is public and every action is traced.",
    ),
    (
        "help.path",
        "Le parcours d'un projet, de la demande aux résultats",
        "The path of a project, from request to results",
    ),
    ("help.step.1.title", "Trouver les données", "Find the data"),
    (
        "help.step.1.text",
        "le catalogue décrit chaque jeu de données, ses tables, ses variables et leurs nomenclatures, avec des statistiques.",
        "the catalogue describes each dataset, its tables, variables and nomenclatures, with statistics.",
    ),
    ("help.step.2.title", "Déposer une demande", "Apply"),
    (
        "help.step.2.text",
        "un guichet unique : finalité, équipe, méthode, financement, et les variables exactement nécessaires.",
        "one desk: purpose, team, method, funding, and exactly the variables needed.",
    ),
    (
        "help.step.3.title",
        "Contrôle de complétude",
        "Completeness check",
    ),
    (
        "help.step.3.text",
        "le secrétariat vérifie le dossier ; il peut le renvoyer avec ses motifs.",
        "the secretariat checks the file; it may send it back with reasons.",
    ),
    ("help.step.4.title", "Avis du comité", "Committee opinion"),
    (
        "help.step.4.text",
        "un rapporteur sans conflit d'intérêts déclaré rend un avis motivé.",
        "a reviewer with no declared conflict of interest gives a reasoned opinion.",
    ),
    (
        "help.step.5.title",
        "Décision de l'autorité",
        "Authority decision",
    ),
    (
        "help.step.5.text",
        "l'autorité autorise ou refuse, avec un numéro de décision.",
        "the authority authorises or refuses, with a decision number.",
    ),
    (
        "help.step.6.title",
        "Accord des producteurs",
        "Producers' agreement",
    ),
    (
        "help.step.6.text",
        "chaque producteur concerné donne son accord.",
        "each producer involved agrees.",
    ),
    ("help.step.7.title", "Extraction", "Extraction"),
    (
        "help.step.7.text",
        "le hub prépare exactement les tables, colonnes, périodes et personnes autorisées, sous des pseudonymes propres au projet, sans les personnes qui se sont opposées.",
        "the hub prepares exactly the approved tables, columns, periods and persons, under the project's own pseudonyms, without the persons who objected.",
    ),
    ("help.step.8.title", "Analyse", "Analysis"),
    (
        "help.step.8.text",
        "dans l'espace projet : SQL, Python ou R sur les seules données du projet ; rien ne peut en être copié.",
        "in the project's workspace: SQL, Python or R on the project's data only; nothing can be copied out.",
    ),
    (
        "help.step.9.title",
        "Sortie des résultats",
        "Release of results",
    ),
    (
        "help.step.9.text",
        "les tableaux agrégés sont vérifiés cellule par cellule puis par deux contrôleurs avant de sortir.",
        "aggregate tables are checked cell by cell, then by two checkers, before they leave.",
    ),
    ("help.step.10.title", "Publication", "Publication"),
    (
        "help.step.10.text",
        "le registre public montre chaque projet, son avancement et ses résultats.",
        "the public registry shows every project, where it stands and its results.",
    ),
    ("help.roles", "Guide par rôle", "Guide by role"),
    ("help.your_role", "votre rôle", "your role"),
    (
        "help.role.producer",
        "Vous livrez des données pseudonymisées : déposez chaque livraison avec son schéma ; le hub la vérifie en entier (types, clés, nomenclatures) et la refuse d'un bloc si une ligne est fausse, en nommant la ligne et la colonne. Donnez ensuite votre accord aux projets qui demandent vos données.",
        "You deliver pseudonymised data: upload each delivery with its schema; the hub checks all of it (types, keys, nomenclatures) and rejects it whole if a line is wrong, naming the line and the column. Then agree to the projects that ask for your data.",
    ),
    ("help.role.producer.href", "/deliver", "/deliver"),
    (
        "help.role.producer.link",
        "Livrer des données",
        "Deliver data",
    ),
    (
        "help.role.researcher",
        "Cherchez dans le catalogue, puis déposez une demande : le brouillon est enregistré au fil de la saisie. Suivez son avancement et ses délais dans vos demandes ; une fois le projet actif, interrogez les données dans l'espace projet et demandez la sortie de vos tableaux agrégés.",
        "Search the catalogue, then apply: the draft is saved as you type. Follow where it stands and its deadlines in your requests; once the project is active, query the data in its workspace and ask for your aggregate tables to be released.",
    ),
    (
        "help.role.researcher.href",
        "/requests/new",
        "/requests/new",
    ),
    (
        "help.role.researcher.link",
        "Déposer une demande d'accès",
        "Apply for access",
    ),
    (
        "help.role.secretariat",
        "Vérifiez la complétude des demandes déposées ; renvoyez-les avec vos motifs ou transmettez-les au comité en désignant un rapporteur. Les délais de chaque étape sont affichés.",
        "Check submitted requests for completeness; send them back with your reasons, or pass them to the committee by assigning a reviewer. Each step's deadline is shown.",
    ),
    ("help.role.secretariat.href", "/requests", "/requests"),
    (
        "help.role.secretariat.link",
        "Les demandes à examiner",
        "Requests to review",
    ),
    (
        "help.role.committee",
        "Déclarez vos intérêts pour chaque demande qui vous est confiée, puis rendez un avis motivé.",
        "Declare your interests for each request assigned to you, then give a reasoned opinion.",
    ),
    ("help.role.committee.href", "/requests", "/requests"),
    ("help.role.committee.link", "Mes examens", "My reviews"),
    (
        "help.role.authority",
        "Autorisez ou refusez les demandes qui ont reçu l'avis du comité, avec un numéro de décision.",
        "Authorise or refuse the requests that have the committee's opinion, with a decision number.",
    ),
    ("help.role.authority.href", "/requests", "/requests"),
    (
        "help.role.authority.link",
        "Les décisions à prendre",
        "Decisions to take",
    ),
    (
        "help.role.checker",
        "Examinez chaque fichier des demandes de sortie : le hub montre le verdict de chaque cellule (secret statistique) ; deux contrôleurs doivent approuver avant la sortie.",
        "Review each file of the release requests: the hub shows each cell's verdict (statistical disclosure); two checkers must approve before release.",
    ),
    ("help.role.checker.href", "/releases", "/releases"),
    (
        "help.role.checker.link",
        "Les sorties à contrôler",
        "Releases to check",
    ),
    (
        "help.role.security_officer",
        "Lisez le journal d'audit (chaîné, infalsifiable) et traitez les alertes : accusez réception, assignez, clôturez.",
        "Read the audit trail (chained, tamper-evident) and handle the alerts: acknowledge, assign, close.",
    ),
    ("help.role.security_officer.href", "/alerts", "/alerts"),
    ("help.role.security_officer.link", "Les alertes", "Alerts"),
    (
        "help.role.admin",
        "Gérez les comptes et les rôles, les clés de pseudonymisation et les appariements entre sources.",
        "Manage accounts and roles, pseudonymisation keys and linkage between sources.",
    ),
    ("help.role.admin.href", "/linkage", "/linkage"),
    ("help.role.admin.link", "Les appariements", "Linkage"),
    ("help.citizens", "Pour les citoyens", "For citizens"),
    (
        "help.citizens.text",
        "Chaque projet est publié dans le registre avec sa finalité, son responsable et ses résultats. Vous pouvez vous opposer à l'utilisation de vos données pour la recherche.",
        "Every project is published in the registry with its purpose, who leads it and its results. You may object to your data being used for research.",
    ),
    ("todo.title", "À faire maintenant", "What to do now"),
    (
        "todo.nothing",
        "Rien ne vous attend pour le moment.",
        "Nothing is waiting for you.",
    ),
    (
        "todo.hint_researcher",
        "Cherchez des données dans le catalogue, puis déposez une demande d'accès.",
        "Find data in the catalogue, then apply for access.",
    ),
    (
        "todo.sent_back",
        "demande(s) renvoyée(s) pour complément : à reprendre et redéposer",
        "request(s) sent back to you: complete and resubmit",
    ),
    (
        "todo.drafts",
        "brouillon(s) de demande à terminer",
        "draft request(s) to finish",
    ),
    (
        "todo.reviews",
        "demande(s) en attente de votre examen",
        "request(s) waiting for your review",
    ),
    (
        "todo.releases",
        "demande(s) de sortie de résultats à vérifier",
        "release request(s) to check",
    ),
    ("todo.alerts", "alerte(s) ouverte(s)", "open alert(s)"),
    (
        "todo.unread",
        "notification(s) non lue(s)",
        "unread notification(s)",
    ),
    ("nav.main", "Navigation principale", "Main navigation"),
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
    ("nav.registry", "Registre des projets", "Project registry"),
    ("role.producer", "Producteur", "Producer"),
    ("role.researcher", "Chercheur", "Researcher"),
    (
        "role.secretariat",
        "Secrétariat du guichet",
        "Desk secretariat",
    ),
    (
        "role.committee",
        "Comité éthique et scientifique",
        "Ethics committee",
    ),
    ("role.authority", "Autorité", "Authority"),
    ("role.checker", "Contrôleur des sorties", "Output checker"),
    (
        "role.security_officer",
        "Responsable sécurité",
        "Security officer",
    ),
    ("role.admin", "Administrateur", "Administrator"),
    ("stats.title", "Délais du guichet", "Delays at the desk"),
    (
        "stats.intro",
        "Pour chaque étape de l'instruction : combien de jours ouvrés elle a pris (médiane et 90e centile des étapes terminées), la part faite dans les délais, et ce qui est en cours ou en retard aujourd'hui.",
        "For each review step: how many working days it took (median and 90th percentile of the finished steps), the share done on time, and what is running or overdue today.",
    ),
    (
        "stats.limit",
        "Délai (jours ouvrés)",
        "Delay (working days)",
    ),
    ("stats.finished", "Terminées", "Finished"),
    (
        "stats.median",
        "Médiane (jours ouvrés)",
        "Median (working days)",
    ),
    (
        "stats.p90",
        "90e centile (jours ouvrés)",
        "90th percentile (working days)",
    ),
    ("stats.on_time", "Dans les délais", "On time"),
    ("stats.running", "En cours", "Running"),
    ("stats.overdue", "En retard", "Overdue"),
    (
        "stats.median_chart",
        "Jours ouvrés par étape (médiane)",
        "Working days per step (median)",
    ),
    (
        "stats.p90_chart",
        "Jours ouvrés par étape (90e centile)",
        "Working days per step (90th percentile)",
    ),
    (
        "stats.per_month",
        "Demandes déposées par mois",
        "Requests submitted per month",
    ),
    (
        "stats.month_chart",
        "Demandes déposées par mois",
        "Requests submitted per month",
    ),
    ("stats.month", "Mois", "Month"),
    ("stats.submitted", "Déposées", "Submitted"),
    ("clock.title", "Délais", "Deadlines"),
    ("clock.step", "Étape", "Step"),
    ("clock.owner", "Doit agir", "Must act"),
    (
        "clock.used",
        "Jours ouvrés utilisés / délai",
        "Working days used / allowed",
    ),
    ("clock.deadline", "Échéance", "Deadline"),
    (
        "clock.days_left",
        "Jours ouvrés restants",
        "Working days left",
    ),
    ("clock.state", "État", "State"),
    ("clock.on_time", "dans les délais", "on time"),
    ("clock.due_soon", "échéance proche", "due soon"),
    ("clock.overdue", "en retard", "overdue"),
    (
        "clock.stopped",
        "suspendu (renvoyée au demandeur)",
        "stopped (sent back to the applicant)",
    ),
    ("clock.done_on_time", "fait dans les délais", "done on time"),
    ("clock.done_late", "fait en retard", "done late"),
    (
        "clock.note",
        "Les délais se comptent en jours ouvrés (week-ends et jours fériés exclus) et s'arrêtent tant que la demande est renvoyée au demandeur.",
        "Delays count working days (weekends and public holidays excluded) and stop while the request is sent back to its applicant.",
    ),
    (
        "registry.title",
        "Registre public des projets",
        "Public registry of projects",
    ),
    (
        "registry.intro",
        "Toute demande d'accès aux données figure ici dès son dépôt : son objet, qui la porte, les données demandées, où elle en est, et les dates de l'avis et de la décision.",
        "Every request for access to data is listed here from its submission: its purpose, who leads it, the data asked for, where it stands, and the dates of the opinion and the decision.",
    ),
    ("registry.search", "Rechercher", "Search"),
    ("registry.any", "tous", "any"),
    ("registry.dataset", "Jeu de données", "Dataset"),
    ("registry.filter", "Filtrer", "Filter"),
    ("registry.count", "projet(s)", "project(s)"),
    ("registry.lead", "Porteur", "Lead"),
    ("registry.data", "Données demandées", "Data requested"),
    ("registry.variables", "variables", "variables"),
    ("registry.dates", "Dates", "Dates"),
    ("registry.submitted", "Déposée le", "Submitted"),
    ("registry.opinion", "Avis du comité le", "Committee opinion"),
    ("registry.decision", "Décision le", "Decision"),
    ("registry.closed", "Close le", "Closed"),
    (
        "registry.none",
        "Aucun projet ne correspond.",
        "No project matches.",
    ),
    ("nav.projects", "Projets", "Projects"),
    ("nav.deliver", "Livrer des données", "Deliver data"),
    ("nav.releases", "Sorties à contrôler", "Releases to check"),
    ("nav.audit", "Journal d'audit", "Audit trail"),
    ("account.title", "Mon compte", "My account"),
    ("account.name", "Nom", "Name"),
    ("account.organisation", "Organisme", "Organisation"),
    ("account.roles", "Rôles", "Roles"),
    ("account.created", "Compte créé le", "Account created"),
    (
        "account.password_changed",
        "Mot de passe changé le",
        "Password changed",
    ),
    (
        "account.reviewed",
        "Dernière revue du compte",
        "Last review of the account",
    ),
    ("account.never", "jamais", "never"),
    ("account.terms", "Conditions d'utilisation", "Terms of use"),
    ("terms.title", "Conditions d'utilisation", "Terms of use"),
    (
        "terms.required",
        "Avant d'utiliser le hub, lisez ses conditions d'utilisation et acceptez-les.",
        "Before using the hub, read its terms of use and accept them.",
    ),
    (
        "terms.changed",
        "Les conditions d'utilisation ont changé depuis que vous les avez acceptées : lisez-les et acceptez-les à nouveau pour continuer.",
        "The terms of use changed since you accepted them: read them and accept them again to go on.",
    ),
    ("terms.version", "Version", "Version"),
    (
        "terms.accept_label",
        "J'ai lu les conditions d'utilisation et je les accepte",
        "I have read and accept the terms of use",
    ),
    ("terms.accept", "Accepter et continuer", "Accept and go on"),
    (
        "terms.decline",
        "Refuser et se déconnecter",
        "Decline and sign out",
    ),
    (
        "terms.accepted_on",
        "Vous avez accepté ces conditions le",
        "You accepted these terms on",
    ),
    ("account.sessions", "Sessions ouvertes", "Open sessions"),
    (
        "account.sessions_help",
        "Une session se ferme après {idle} minutes sans usage, et au plus tard {hours} heures après la connexion. Fermez celles que vous ne reconnaissez pas, et changez alors votre mot de passe.",
        "A session ends after {idle} minutes unused, and at the latest {hours} hours after signing in. End the ones you do not recognise, then change your password.",
    ),
    ("account.opened", "Ouverte le", "Opened"),
    ("account.last_seen", "Dernier usage", "Last used"),
    ("account.address", "Adresse", "Address"),
    (
        "account.browser",
        "Navigateur ou client",
        "Browser or client",
    ),
    ("account.actions", "Actions", "Actions"),
    ("account.this_session", "cette session", "this session"),
    ("account.end", "Fermer", "End"),
    (
        "account.end_all",
        "Fermer toutes mes autres sessions",
        "End all my other sessions",
    ),
    (
        "account.this_one_too",
        "Fermer aussi celle-ci (vous serez déconnecté)",
        "End this one too (you will be signed out)",
    ),
    (
        "account.change_password",
        "Changer de mot de passe",
        "Change password",
    ),
    (
        "account.current_password",
        "Mot de passe actuel",
        "Current password",
    ),
    (
        "account.new_password",
        "Nouveau mot de passe",
        "New password",
    ),
    (
        "account.repeat_password",
        "Nouveau mot de passe, à nouveau",
        "New password, again",
    ),
    (
        "account.password_rules",
        "Au moins {n} caractères ; ni un mot de passe courant, ni votre identifiant. Une phrase de plusieurs mots convient bien.",
        "At least {n} characters; not a common password, not your user name. A phrase of several words works well.",
    ),
    (
        "account.password_done",
        "Mot de passe changé. Vos autres sessions ont été fermées.",
        "Password changed. Your other sessions have been ended.",
    ),
    (
        "admin.accounts",
        "Comptes et revue annuelle",
        "Accounts and yearly review",
    ),
    (
        "admin.review_help",
        "Chaque compte et ses rôles sont revus au moins tous les {days} jours. Un compte dont la revue est en retard de plus de {grace} jours est suspendu automatiquement (plus de connexion, sessions fermées) ; le marquer comme revu lève la suspension.",
        "Every account and its roles are reviewed at least every {days} days. An account whose review is more than {grace} days overdue is suspended automatically (no sign-in, sessions ended); marking it reviewed lifts the suspension.",
    ),
    (
        "admin.overdue_count",
        "comptes à revoir (non revus dans le délai)",
        "accounts due for review (not reviewed in time)",
    ),
    ("admin.due", "Revue due le", "Review due"),
    ("admin.state", "État", "State"),
    ("admin.overdue", "en retard", "overdue"),
    ("admin.suspended", "suspendu", "suspended"),
    ("admin.active", "actif", "active"),
    ("admin.mark_reviewed", "Marquer comme revu", "Mark reviewed"),
    ("admin.suspend", "Suspendre", "Suspend"),
    ("admin.reason", "Motif", "Reason"),
    ("nav.accounts", "Comptes", "Accounts"),
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
        "Demander la sortie d'un tableau",
        "Ask to release a table",
    ),
    (
        "ws.release_desc",
        "Objet de la demande de sortie (les résultats et la question à laquelle ils répondent)",
        "What the release is for (the outputs and the question they answer)",
    ),
    (
        "ws.release_help",
        "La requête de la console donne les microdonnées (une ligne par enregistrement) ; le hub calcule le tableau lui-même et contrôle chaque cellule sur les personnes qui y contribuent.",
        "The console's query gives the microdata (one row per record); the hub computes the table itself and checks each cell on the persons who contribute to it.",
    ),
    ("ws.releases", "Demandes de sortie", "Release requests"),
    ("ws.page", "Page", "Page"),
    (
        "req.criteria",
        "Critères de population (appliqués à l'extraction)",
        "Population criteria (applied to the extraction)",
    ),
    (
        "req.criteria_help",
        "Une personne est retenue si elle a au moins le nombre de lignes indiqué dont le code commence par l'un des codes, dans la fenêtre (la période de la demande par défaut), pour chaque critère d'inclusion, et aucun critère d'exclusion.",
        "A person is kept when they have at least the given number of rows whose code starts with one of the codes, in the window (the request's period by default), for every inclusion criterion, and no exclusion criterion.",
    ),
    ("req.crit_codes", "Codes (préfixes)", "Codes (prefixes)"),
    ("req.crit_from", "Du", "From"),
    ("req.crit_to", "Au", "To"),
    ("req.crit_min", "Lignes min.", "Min. rows"),
    ("req.crit_mode", "Type", "Kind"),
    ("req.crit_include", "inclusion", "include"),
    ("req.crit_exclude", "exclusion", "exclude"),
    (
        "ws.refresh_due",
        "Une opposition enregistrée depuis la construction de cette extraction la concerne : reconstruisez-la pour en retirer les personnes concernées.",
        "An opposition registered since this extraction was built concerns it: rebuild it to remove the persons concerned.",
    ),
    (
        "ws.refresh",
        "Reconstruire l'extraction",
        "Rebuild the extraction",
    ),
    (
        "ws.building",
        "Construction de l'extraction en cours",
        "Building the extraction",
    ),
    ("ws.tables_done", "tables faites", "tables done"),
    (
        "ws.build_failed",
        "La construction de l'extraction a échoué",
        "Building the extraction failed",
    ),
    ("ws.extraction", "Extraction", "Extraction"),
    ("ws.persons", "personnes", "persons"),
    ("ws.covered", "période couverte", "period covered"),
    ("ws.population", "population retenue", "population selected"),
    ("ws.restriction", "Restriction", "Restriction"),
    (
        "ws.provenance",
        "Provenance (versions, empreintes, registre)",
        "Provenance (versions, digests, register)",
    ),
    ("ws.built", "Construite le", "Built on"),
    (
        "ws.register",
        "registre des oppositions",
        "opposition register",
    ),
    ("ws.schema", "Schéma du projet", "Project schema"),
    ("ws.pseudonym", "pseudonyme du projet", "project pseudonym"),
    ("ws.size", "Taille (octets)", "Size (bytes)"),
    ("ws.chart", "Graphique", "Chart"),
    ("ws.chart_bar", "barres", "bars"),
    ("ws.chart_line", "courbe", "line"),
    ("ws.cancel", "Annuler la requête", "Cancel the query"),
    ("ws.running", "Requête en cours…", "Query running…"),
    ("ws.cancelling", "Annulation…", "Cancelling…"),
    (
        "ws.console_help",
        "Requêtes en lecture seule sur les tables du projet ; CREATE TABLE scratch.nom AS SELECT … crée une table dérivée. Ctrl+Entrée exécute.",
        "Read-only queries on the project's tables; CREATE TABLE scratch.name AS SELECT … creates a derived table. Ctrl+Enter runs.",
    ),
    ("ws.rows_read", "lignes lues", "rows read"),
    ("ws.history", "Mes requêtes", "My queries"),
    ("ws.outcome", "Issue", "Outcome"),
    (
        "ws.tokens",
        "Accès Flight SQL (Python, R…)",
        "Flight SQL access (Python, R…)",
    ),
    (
        "ws.tokens_help",
        "Un jeton donne accès à ce projet seulement, pour vous seulement, jusqu'à son expiration ; il est révocable.",
        "A token gives access to this project only, for you only, until it expires; it can be revoked.",
    ),
    (
        "ws.token_once",
        "Copiez ce jeton maintenant : il ne sera plus affiché.",
        "Copy this token now: it will not be shown again.",
    ),
    ("ws.token_label", "Usage", "Label"),
    ("ws.expires", "Expire le", "Expires"),
    ("ws.last_used", "Dernier usage", "Last used"),
    ("ws.revoked", "révoqué", "revoked"),
    ("ws.revoke", "Révoquer", "Revoke"),
    ("ws.token_days", "Validité (jours)", "Validity (days)"),
    ("ws.token_create", "Créer un jeton", "Create a token"),
    (
        "req.provisioning",
        "Construction de l'espace projet",
        "Building the project workspace",
    ),
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
    ("rel.draft", "Brouillon", "Draft"),
    ("rel.submitted", "Soumise", "Submitted"),
    (
        "rel.partially_reviewed",
        "Contrôle en cours",
        "Partially reviewed",
    ),
    ("rel.reviewed", "Contrôlée", "Reviewed"),
    ("rel.released", "Sortie", "Released"),
    (
        "rel.returned",
        "Renvoyée à l'auteur",
        "Returned to the author",
    ),
    ("rel.rejected", "Rejetée", "Rejected"),
    ("rel.withdrawn", "Retirée", "Withdrawn"),
    ("rel.approvals", "Approbations", "Approvals"),
    (
        "rel.flow_help",
        "Brouillon → soumise → contrôlée par des contrôleurs indépendants (ni l'auteur ni un membre du projet) → sortie. Un fichier modifié perd ses approbations.",
        "Draft → submitted → reviewed by independent checkers (neither the author nor a project member) → released. A changed file loses its approvals.",
    ),
    ("rel.files", "Fichiers", "Files"),
    (
        "rel.no_files",
        "Aucun fichier : ajoutez un tableau calculé à partir des microdonnées de l'espace projet.",
        "No file yet: add a table computed from the workspace's microdata.",
    ),
    ("rel.kind.table", "tableau", "table"),
    ("rel.kind.model", "modèle", "model"),
    ("rel.kind.figure", "figure", "figure"),
    ("rel.kind.text", "texte", "text"),
    ("rel.outcome.ok", "conforme", "passes"),
    (
        "rel.outcome.primary",
        "masquée (règle)",
        "suppressed (rule)",
    ),
    (
        "rel.outcome.secondary",
        "masquée (protection)",
        "suppressed (protection)",
    ),
    ("rel.outcome.flagged", "à examiner", "flagged"),
    ("rel.preview_file", "Voir", "View"),
    (
        "rel.microdata",
        "Requête des microdonnées",
        "Microdata query",
    ),
    ("rel.rows", "Variables en ligne", "Row variables"),
    ("rel.cols", "Variables en colonne", "Column variables"),
    ("rel.value", "Variable", "Variable"),
    ("rel.agg", "Statistique", "Statistic"),
    ("rel.totals", "Totaux", "Totals"),
    ("rel.person", "Colonne personne", "Person column"),
    (
        "rel.verdict",
        "Verdict automatique, cellule par cellule (* : masquée)",
        "Automatic verdict, cell by cell (*: suppressed)",
    ),
    (
        "rel.cells_not_ok",
        "cellules masquées ou à examiner, avec la règle et la raison",
        "cells suppressed or flagged, with the rule and the reason",
    ),
    ("rel.records", "enregistrements", "records"),
    ("rel.parameters", "paramètres", "parameters"),
    (
        "rel.dof",
        "degrés de liberté résiduels",
        "residual degrees of freedom",
    ),
    (
        "rel.figure_of",
        "Tableau dont la figure est tirée",
        "Table the figure is drawn from",
    ),
    ("rel.approve", "Approuver", "Approve"),
    ("rel.return", "Renvoyer", "Return"),
    (
        "rel.older_version",
        "sur une version antérieure",
        "on an earlier version",
    ),
    ("rel.remove", "Retirer le fichier", "Remove the file"),
    ("rel.add_table", "Ajouter un tableau", "Add a table"),
    (
        "rel.add_text",
        "Ajouter un texte (README, méthodes)",
        "Add text (README, methods)",
    ),
    ("rel.add_figure", "Ajouter une figure", "Add a figure"),
    ("rel.name", "Nom du fichier", "File name"),
    (
        "rel.table_desc",
        "Ce que montre le tableau, et sa population",
        "What the table shows, and its population",
    ),
    ("rel.content", "Texte", "Text"),
    (
        "rel.submit",
        "Soumettre aux contrôleurs",
        "Submit to the checkers",
    ),
    ("rel.withdraw", "Retirer la demande", "Withdraw the request"),
    ("rel.review", "Contrôle des fichiers", "Review of the files"),
    (
        "rel.comment",
        "Commentaire (obligatoire pour renvoyer)",
        "Comment (required to return)",
    ),
    (
        "rel.send_review",
        "Enregistrer le contrôle",
        "Record the review",
    ),
    ("rel.release", "Faire sortir", "Release"),
    (
        "rel.release_help",
        "Tous les fichiers sont approuvés : la sortie les rend téléchargeables par les membres du projet, et le registre des sorties les retient.",
        "Every file is approved: releasing makes them downloadable by the project's members, and the release ledger remembers them.",
    ),
    ("rel.reject", "Rejeter", "Reject"),
    (
        "rel.queue_help",
        "Les demandes de sortie soumises ; un contrôleur ne contrôle pas celles de ses propres projets.",
        "Submitted release requests; a checker does not review those of their own projects.",
    ),
    (
        "rel.queue_empty",
        "Aucune demande de sortie.",
        "No release request.",
    ),
    ("rel.refused", "Refusée", "Refused"),
    (
        "reg.activity",
        "Activité de l'espace projet",
        "Activity of the project workspace",
    ),
    ("reg.queries", "requêtes exécutées", "queries run"),
    (
        "reg.last_activity",
        "dernière activité le",
        "last activity on",
    ),
    (
        "reg.releases",
        "Résultats sortis de l'espace projet (après contrôle)",
        "Results released from the project workspace (after output control)",
    ),
    ("alerts.title", "Alertes", "Alerts"),
    (
        "ws.linked_by",
        "Personnes reliées par la table de liens",
        "Persons linked by the link table",
    ),
    ("ws.persons_linked", "personnes reliées", "persons linked"),
    ("linkage.title", "Appariements", "Linkage"),
    (
        "linkage.help",
        "Les tables de liens relient les enregistrements de deux jeux de données qui concernent la même personne (ou les doublons d'un seul), par le modèle de Fellegi et Sunter. L'équipe données de la plateforme les calcule, en vérifie un échantillon, puis les publie : la mise à disposition d'un projet les utilise alors pour relier les personnes de ces jeux.",
        "Link tables join the records of two datasets that are about the same person (or the duplicates of one), by the Fellegi–Sunter model. The hub's data team computes them, reviews a sample, then publishes them: provisioning then uses them to link the persons of those datasets for a project.",
    ),
    ("linkage.tables", "Tables de liens", "Link tables"),
    (
        "linkage.none",
        "Aucune table de liens pour l'instant : lancez un appariement ci-dessous (le formulaire propose la cohorte de démonstration avec le SNDS).",
        "No link table yet: start a linkage below (the form proposes the demo cohort with the SNDS).",
    ),
    (
        "linkage.name",
        "Nom de la table de liens",
        "Link table name",
    ),
    (
        "linkage.name_help",
        "Lettres, chiffres, « - » ou « _ ». Relancer un nom existant en crée une nouvelle version.",
        "Letters, digits, '-' or '_'. Running an existing name makes its next version.",
    ),
    ("linkage.sides", "Jeux reliés", "Datasets linked"),
    ("linkage.links", "Liens", "Links"),
    ("linkage.started", "Lancé le", "Started"),
    ("linkage.start", "Lancer un appariement", "Start a linkage"),
    (
        "linkage.fix",
        "L'appariement n'a pas été lancé :",
        "The linkage was not started:",
    ),
    ("linkage.left", "Côté gauche", "Left side"),
    ("linkage.right", "Côté droit", "Right side"),
    (
        "linkage.side_help",
        "JSON : dataset_id, table, id_column (l'identifiant pseudonymisé), columns (chaque nom des réglages, depuis une ou plusieurs colonnes mises bout à bout), truth_column (à gauche : l'identifiant du côté droit quand il est connu, pour mesurer précision et rappel). Côté droit vide : dédoublonnage.",
        "JSON: dataset_id, table, id_column (the pseudonymised identifier), columns (each settings name, from one or more columns joined), truth_column (left: the right side's identifier where known, to measure precision and recall). Right side empty: deduplication.",
    ),
    (
        "linkage.settings",
        "Réglages du modèle (TOML)",
        "Model settings (TOML)",
    ),
    (
        "linkage.settings_help",
        "Comparaisons et niveaux, règles de blocage, règles déterministes, apprentissage : voir docs/linkage.md. « communes » ajoute le bassin d'emploi et le secteur sanitaire de chaque commune (IR_GEO_V).",
        "Comparisons and levels, blocking rules, deterministic rules, training: see docs/linkage.md. 'communes' adds each commune's employment basin and health sector (IR_GEO_V).",
    ),
    ("linkage.run", "Lancer l'appariement", "Run the linkage"),
    ("linkage.state.queued", "En attente", "Queued"),
    ("linkage.state.running", "En cours", "Running"),
    ("linkage.state.done", "Terminé", "Done"),
    ("linkage.state.failed", "Échec", "Failed"),
    ("linkage.published", "Publiée", "Published"),
    ("linkage.artefact", "Table de liens", "Link table"),
    ("linkage.running", "Appariement en cours", "Linkage running"),
    ("linkage.quality", "Rapport de qualité", "Quality report"),
    (
        "linkage.records",
        "Enregistrements (gauche × droite)",
        "Records (left × right)",
    ),
    ("linkage.candidates", "Paires candidates", "Candidate pairs"),
    (
        "linkage.threshold",
        "seuil de probabilité",
        "probability threshold",
    ),
    (
        "linkage.records_linked",
        "enregistrements liés (gauche / droite)",
        "records linked (left / right)",
    ),
    (
        "linkage.est_precision",
        "Précision estimée",
        "Estimated precision",
    ),
    ("linkage.est_recall", "Rappel estimé", "Estimated recall"),
    (
        "linkage.measured",
        "Mesuré sur la vérité terrain",
        "Measured against ground truth",
    ),
    (
        "linkage.measured_on",
        "enregistrements de gauche dont l'identifiant de droite est connu",
        "left records whose right identifier is known",
    ),
    ("linkage.precision", "précision", "precision"),
    ("linkage.recall", "rappel", "recall"),
    ("linkage.reviewed", "Revue manuelle", "Clerical review"),
    (
        "linkage.missed",
        "part de liens manqués sous le seuil",
        "share of matches below the threshold",
    ),
    (
        "linkage.labelled",
        "paires de l'échantillon étiquetées",
        "pairs of the sample labelled",
    ),
    (
        "linkage.unknown_communes",
        "Codes commune inconnus d'IR_GEO_V",
        "Commune codes not in IR_GEO_V",
    ),
    ("linkage.seconds", "Durée", "Duration"),
    (
        "linkage.estimates_help",
        "La précision estimée est la probabilité moyenne des liens ; le rappel estimé, la part des correspondances attendues parmi les paires candidates qui sont liées (les paires jamais formées par le blocage n'y sont pas comptées).",
        "Estimated precision is the links' mean match probability; estimated recall, the share of the matches expected among the candidate pairs that are linked (pairs the blocking never formed are not counted).",
    ),
    (
        "linkage.publish_help",
        "Publier rend cette version utilisable par la mise à disposition : les projets qui demandent les deux jeux verront leurs personnes reliées par ces liens.",
        "Publishing makes this version usable by provisioning: projects that ask for both datasets get their persons linked by these links.",
    ),
    (
        "linkage.publish_confirm",
        "J'ai lu le rapport et revu l'échantillon",
        "I have read the report and reviewed the sample",
    ),
    (
        "linkage.publish",
        "Publier la table de liens",
        "Publish the link table",
    ),
    (
        "linkage.distribution",
        "Distribution des poids",
        "Distribution of match weights",
    ),
    (
        "linkage.distribution_help",
        "Paires candidates par poids de correspondance (log2 du rapport de vraisemblance) : les non-correspondances à gauche, les correspondances à droite.",
        "Candidate pairs by match weight (log2 of the likelihood ratio): non-matches on the left, matches on the right.",
    ),
    (
        "linkage.as_table",
        "Les nombres en tableau",
        "The numbers as a table",
    ),
    ("linkage.weight", "Poids", "Weight"),
    (
        "linkage.model",
        "Le modèle : m et u par niveau",
        "The model: m and u per level",
    ),
    ("linkage.comparison", "Comparaison", "Comparison"),
    ("linkage.level", "Niveau", "Level"),
    (
        "linkage.review",
        "Revue manuelle des paires incertaines",
        "Clerical review of uncertain pairs",
    ),
    (
        "linkage.review_help",
        "Un échantillon des paires dont le modèle est incertain (probabilité entre 0,05 et 0,995), réparti sur cinq tranches de probabilité. Dites pour chacune s'il s'agit de la même personne : vos réponses mesurent la précision près du seuil.",
        "A sample of the pairs the model is unsure of (probability between 0.05 and 0.995), spread over five bands of probability. Say for each whether it is the same person: your answers measure precision near the threshold.",
    ),
    (
        "linkage.review_none",
        "Aucune paire incertaine : le modèle tranche toutes les paires candidates.",
        "No uncertain pair: the model settles every candidate pair.",
    ),
    ("linkage.pair", "Paire", "Pair"),
    (
        "linkage.why",
        "Pourquoi ce poids (cascade)",
        "Why this weight (waterfall)",
    ),
    ("linkage.verdict", "Verdict sur la paire", "Verdict on pair"),
    ("linkage.label.match", "Même personne", "Same person"),
    (
        "linkage.label.non_match",
        "Personnes différentes",
        "Different persons",
    ),
    ("linkage.label.unsure", "Incertain", "Unsure"),
    ("nav.linkage", "Appariements", "Linkage"),
    (
        "alerts.help",
        "Les règles d'alerte lisent le journal d'audit à mesure qu'il s'écrit ; chaque alerte cite les événements qui la fondent.",
        "The alert rules read the audit log as it is written; each alert cites the events behind it.",
    ),
    ("alerts.state", "État", "State"),
    ("alerts.severity", "Gravité", "Severity"),
    ("alerts.rule", "Règle", "Rule"),
    ("alerts.subject", "Concerne", "About"),
    ("alerts.message", "Motif", "Why"),
    ("alerts.project", "Projet", "Project"),
    (
        "alerts.responded",
        "Réponse automatique :",
        "Automatic response:",
    ),
    ("alerts.evidence", "Événements", "Events"),
    ("alerts.act", "Traiter", "Handle"),
    ("alerts.open", "ouverte", "open"),
    ("alerts.acknowledged", "prise en compte", "acknowledged"),
    ("alerts.assigned", "attribuée", "assigned"),
    ("alerts.closed", "close", "closed"),
    ("alerts.high", "haute", "high"),
    ("alerts.medium", "moyenne", "medium"),
    ("alerts.low", "basse", "low"),
    ("alerts.none", "Aucune alerte.", "No alert."),
    ("alerts.acknowledge", "Prendre en compte", "Acknowledge"),
    ("alerts.assign", "Attribuer", "Assign"),
    (
        "alerts.assignee",
        "Compte chargé de l'enquête",
        "Account investigating",
    ),
    ("alerts.note", "Conclusion", "Finding"),
    ("alerts.close", "Clore", "Close"),
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
    (
        "req.to_assign",
        "Rapporteurs à désigner",
        "Reviewers to assign",
    ),
    ("req.waiting", "Qui doit agir", "Who must act"),
    (
        "waiting.you",
        "Vous : compléter et soumettre",
        "You: complete and submit",
    ),
    (
        "waiting.hub",
        "Le hub : mise à disposition",
        "The hub: provisioning",
    ),
    (
        "waiting.secretariat",
        "Le secrétariat du guichet",
        "The desk's secretariat",
    ),
    (
        "waiting.committee",
        "Le comité éthique",
        "The ethics committee",
    ),
    ("waiting.authority", "L'autorité", "The authority"),
    (
        "waiting.producer",
        "Les producteurs des données",
        "The data producers",
    ),
    ("req.edit", "Modifier la demande", "Edit the request"),
    ("req.save", "Enregistrer", "Save"),
    (
        "req.autosave",
        "Brouillon enregistré au fil de la saisie.",
        "The draft is saved as you type.",
    ),
    (
        "req.amend",
        "Demander une modification du projet",
        "Ask for an amendment",
    ),
    (
        "req.amend_help",
        "Un avenant (nouvelles variables, nouveau membre, prolongation) suit le même circuit d'instruction ; une fois autorisé, l'extraction du projet est reconstruite.",
        "An amendment (new variables, new member, extension) goes through the same review; once authorised, the project's extraction is rebuilt.",
    ),
    ("req.amends", "Avenant de", "Amends"),
    ("req.amendments", "Avenants", "Amendments"),
    (
        "req.changes",
        "Ce que l'avenant change, et pourquoi",
        "What the amendment changes, and why",
    ),
    ("req.section.project", "Le projet", "The project"),
    ("req.section.team", "Équipe", "Team"),
    (
        "req.section.method",
        "Méthode et données",
        "Method and data",
    ),
    (
        "req.summary_public",
        "Résumé pour le public",
        "Summary for the public",
    ),
    (
        "req.organisation",
        "Organisme responsable du traitement",
        "Organisation responsible for the processing",
    ),
    ("req.team.name", "Nom", "Name"),
    (
        "req.team.role",
        "Rôle dans le projet",
        "Role in the project",
    ),
    ("req.team.organisation", "Organisme", "Organisation"),
    (
        "req.team.username",
        "Compte hdh (accès à l'espace)",
        "hdh account (workspace access)",
    ),
    (
        "req.population",
        "Critères de population (codes et dates)",
        "Population criteria (codes and dates)",
    ),
    ("req.linkage", "Appariements nécessaires", "Linkage needed"),
    ("req.methodology", "Méthodologie", "Methodology"),
    (
        "req.expected_results",
        "Résultats attendus",
        "Expected results",
    ),
    ("req.funding", "Financement", "Funding"),
    (
        "req.conflicts_of_interest",
        "Liens d'intérêts déclarés",
        "Declared conflicts of interest",
    ),
    (
        "req.results",
        "Résultats (publications, rapports, liens)",
        "Results (publications, reports, links)",
    ),
    ("req.route", "Voie d'accès", "Legal route"),
    (
        "req.problems",
        "À compléter avant de soumettre :",
        "To complete before submitting:",
    ),
    ("req.opinion", "Avis", "Opinion"),
    ("req.motivation", "Motivation", "Motivation"),
    ("req.reference", "Numéro de décision", "Decision number"),
    ("req.dataset", "Jeu de données", "Dataset"),
    (
        "req.agreements",
        "Accords des producteurs",
        "Producers' agreements",
    ),
    (
        "route.standard",
        "Standard (comité éthique puis autorité)",
        "Standard (ethics committee, then authority)",
    ),
    (
        "route.reference_methodology",
        "Méthodologie de référence (sans comité)",
        "Reference methodology (no committee)",
    ),
    ("agreement.agreed", "Accord donné le", "Agreed on"),
    ("agreement.awaited", "Accord attendu", "Agreement awaited"),
    ("opinion.favourable", "Favorable", "Favourable"),
    (
        "opinion.favourable_with_reservations",
        "Favorable avec réserves",
        "Favourable with reservations",
    ),
    ("opinion.unfavourable", "Défavorable", "Unfavourable"),
    ("decision.authorised", "Autorisation", "Authorised"),
    ("decision.refused", "Refus", "Refused"),
    ("action.opinion", "Rendre l'avis", "Give the opinion"),
    ("action.authorise", "Autoriser", "Authorise"),
    (
        "action.agree",
        "Donner l'accord du producteur",
        "Agree to provide the data",
    ),
    ("action.archive", "Archiver", "Archive"),
    ("action.amended", "Avenant appliqué", "Amendment applied"),
    (
        "state.producer_agreement",
        "Autorisée — accord des producteurs",
        "Authorised — producers' agreement",
    ),
    ("state.archived", "Archivée", "Archived"),
    ("step.producer_agreement", "Producteurs", "Producers"),
    ("att.title", "Pièces jointes", "Attachments"),
    ("att.kind", "Type de pièce", "Kind of document"),
    ("att.file", "Fichier", "File"),
    ("att.scan", "Antivirus", "Virus scan"),
    ("att.none", "Aucune pièce jointe.", "No attachment."),
    ("att.upload", "Joindre", "Attach"),
    ("att.protocol", "Protocole", "Protocol"),
    (
        "att.data_management_plan",
        "Plan de gestion des données",
        "Data management plan",
    ),
    ("att.other", "Autre document", "Other document"),
    ("rev.title", "Rapporteurs du comité", "Committee reviewers"),
    ("rev.member", "Membre", "Member"),
    ("rev.assigned", "Désigné le", "Assigned on"),
    (
        "rev.declaration",
        "Déclaration d'intérêts",
        "Declaration of interests",
    ),
    (
        "rev.none",
        "Aucun rapporteur désigné.",
        "No reviewer assigned.",
    ),
    ("rev.pending", "Attendue", "Awaited"),
    (
        "rev.conflict",
        "Conflit d'intérêts (déporté)",
        "Conflict of interest (recused)",
    ),
    ("rev.assign", "Désigner un rapporteur", "Assign a reviewer"),
    (
        "rev.declare_title",
        "Déclaration d'intérêts",
        "Declaration of interests",
    ),
    (
        "rev.declare_intro",
        "Vous avez été désigné rapporteur de cette demande. Avant de lire le dossier, déclarez vos liens d'intérêts avec le demandeur, l'équipe ou le projet.",
        "You were assigned to review this request. Before reading the file, declare any interest you have in the applicant, the team or the project.",
    ),
    (
        "rev.declare_none",
        "Je n'ai aucun lien d'intérêts avec ce projet",
        "I have no conflict of interest with this project",
    ),
    (
        "rev.declare_conflict",
        "J'ai un lien d'intérêts : je me déporte",
        "I have a conflict of interest: I recuse myself",
    ),
    (
        "rev.note",
        "Précisions (obligatoires en cas de conflit)",
        "Details (required with a conflict)",
    ),
    ("rev.declare", "Déclarer", "Declare"),
    (
        "rev.decl.none",
        "aucun conflit d'intérêts",
        "no conflict of interest",
    ),
    (
        "rev.decl.conflict",
        "conflit d'intérêts : récusé",
        "conflict of interest: recused",
    ),
    (
        "comment.title",
        "Échanges sur le dossier",
        "Comments on the file",
    ),
    ("comment.none", "Aucun commentaire.", "No comment."),
    ("comment.write", "Écrire un commentaire", "Write a comment"),
    ("comment.send", "Envoyer", "Send"),
    ("inbox.title", "Notifications", "Notifications"),
    ("inbox.subject", "Objet", "Subject"),
    ("inbox.email", "Courriel", "E-mail"),
    ("inbox.none", "Aucune notification.", "No notification."),
    ("inbox.mark_read", "Tout marquer comme lu", "Mark all read"),
    ("inbox.email.sent", "envoyé", "sent"),
    ("inbox.email.failed", "échec d'envoi", "not delivered"),
    ("inbox.email.queued", "en cours d'envoi", "being sent"),
    ("inbox.email.none", "—", "—"),
    ("nav.inbox", "Notifications", "Notifications"),
    ("registry.public_page", "Fiche publique", "Public page"),
    ("registry.months", "mois", "months"),
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
        None => {
            // A page would show the bare key: said in the log, where the
            // browser tests look for it.
            tracing::warn!(key, "missing translation");
            key.to_string()
        }
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

    /// The keys the templates build from the domain's closed sets (`t("state." ~ r.state)`…).
    #[test]
    fn every_state_role_and_opinion_is_translated() {
        use hdh_model::release::ReleaseState;
        use hdh_model::request::Opinion;
        use hdh_model::{AccessRequestState, Role};
        let mut keys: Vec<String> = Vec::new();
        for s in AccessRequestState::ALL {
            keys.push(format!("state.{}", s.as_str()));
        }
        for s in ReleaseState::ALL {
            keys.push(format!("rel.{}", s.as_str()));
        }
        for r in Role::ALL {
            for k in [
                "role.{}",
                "help.role.{}",
                "help.role.{}.link",
                "help.role.{}.href",
            ] {
                keys.push(k.replace("{}", r.as_str()));
            }
        }
        for o in Opinion::ALL {
            keys.push(format!("opinion.{}", o.as_str()));
        }
        for d in ["none", "conflict"] {
            keys.push(format!("rev.decl.{d}"));
        }
        for n in 1..=10 {
            keys.push(format!("help.step.{n}.title"));
            keys.push(format!("help.step.{n}.text"));
        }
        let missing: Vec<&String> = keys
            .iter()
            .filter(|k| !STRINGS.iter().any(|(x, _, _)| x == k))
            .collect();
        assert!(
            missing.is_empty(),
            "keys without a translation: {missing:?}"
        );
    }

    /// Every key a template names, `t("…")` or `t('…')`, has its French
    /// and English: a page never shows a bare key.
    #[test]
    fn every_key_the_templates_use_is_translated() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut missing = Vec::new();
        let mut used = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for (line_no, line) in text.lines().enumerate() {
                let mut rest = line;
                while let Some(at) = rest.find("t(") {
                    let before = rest[..at].chars().last();
                    rest = &rest[at + 2..];
                    if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        continue;
                    }
                    let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                        continue;
                    };
                    let Some(end) = rest[1..].find(q) else {
                        continue;
                    };
                    let key = &rest[1..1 + end];
                    // `t("state." ~ x)`: a prefix, checked by the pages' tests.
                    if rest[1 + end + 1..].trim_start().starts_with('~') {
                        continue;
                    }
                    used += 1;
                    if !STRINGS.iter().any(|(k, _, _)| *k == key) {
                        missing.push(format!(
                            "{}:{}: {key}",
                            path.file_name().unwrap().to_string_lossy(),
                            line_no + 1
                        ));
                    }
                }
            }
        }
        assert!(used > 300, "keys found in the templates: {used}");
        assert!(
            missing.is_empty(),
            "keys without a translation: {missing:#?}"
        );
    }
}
