//! Server-rendered pages (minijinja templates compiled into the binary).
//! They work without JavaScript; every form carries the session's CSRF token.

use crate::auth::{COOKIE, Caller, MaybeCaller};
use crate::i18n::{Lang, t};
use crate::service::{self, RequestInput};
use crate::{AppError, AppState, catalog};
use axum::Router;
use axum::extract::{FromRequestParts, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use hdh_model::{AccessRequestState, RequestAction, Role};
use hdh_store::ScopeItem;
use minijinja::{Environment, Value, context};
use serde::Deserialize;

macro_rules! tpl {
    ($env:ident, $($name:literal),*) => {
        $( $env.add_template($name, include_str!(concat!("../templates/", $name)))?; )*
    };
}

/// The page templates, compiled into the binary and parsed at start-up: a
/// broken template stops the hub from starting, with the template's name.
pub fn templates() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    tpl!(
        env,
        "base.html",
        "home.html",
        "login.html",
        "error.html",
        "catalogue.html",
        "dataset.html",
        "table.html",
        "deliver.html",
        "requests.html",
        "registry.html",
        "statistics.html",
        "request_new.html",
        "request.html",
        "request_declare.html",
        "inbox.html",
        "registry_project.html",
        "project.html",
        "releases.html",
        "release.html",
        "audit.html",
        "variable.html",
        "diagram.html",
        "nomenclatures.html",
        "nomenclature.html",
        "quality.html",
        "ingestion.html",
        "alerts.html",
        "linkage.html",
        "linkage_job.html",
        "help.html",
        "confirm.html",
        "account.html",
        "admin_accounts.html",
        "terms.html"
    );
    // 1234567 → "1 234 567" in French (thin spaces, as in French
    // typography), "1,234,567" in English: the reader's locale.
    env.add_filter("num", |state: &minijinja::State, v: i64| -> String {
        let french = hdh_catalog::chart::format_count(v.unsigned_abs());
        let sign = if v < 0 { "-" } else { "" };
        match state
            .lookup("lang")
            .and_then(|l| l.as_str().and_then(Lang::parse))
        {
            Some(Lang::En) => format!("{sign}{}", french.replace('\u{2009}', ",")),
            _ => format!("{sign}{french}"),
        }
    });
    // "2026-11-22T18:28:54.123456Z" → "22 Nov 2026, 18:28 UTC" in English,
    // "22 nov. 2026, 18:28 UTC" in French, in a <time> that keeps the
    // instant for machines; anything else is shown as it came.
    env.add_filter(
        "datetime",
        |state: &minijinja::State, v: String| -> minijinja::Value {
            let day = v
                .get(..10)
                .and_then(|d| local_date(lang_of_state(state), d));
            match (day, v.get(11..16)) {
                (Some(day), Some(hm)) if matches!(v.as_bytes()[10], b'T' | b' ') => {
                    time_element(&v, &format!("{day}, {hm} UTC"))
                }
                _ => minijinja::Value::from(v),
            }
        },
    );
    // "2022-01-31" → "31 Jan 2022" / "31 janv. 2022".
    env.add_filter(
        "date",
        |state: &minijinja::State, v: String| -> minijinja::Value {
            match local_date(lang_of_state(state), &v) {
                Some(day) => time_element(&v, &day),
                None => minijinja::Value::from(v),
            }
        },
    );
    env.add_function("t", |state: &minijinja::State, key: &str| -> String {
        t(lang_of_state(state), key)
    });
    Ok(env)
}

/// `<time datetime="iso">text</time>`, both escaped.
fn time_element(iso: &str, text: &str) -> minijinja::Value {
    minijinja::Value::from_safe_string(format!(
        "<time datetime=\"{}\">{}</time>",
        minijinja::HtmlEscape(iso),
        minijinja::HtmlEscape(text)
    ))
}

fn lang_of_state(state: &minijinja::State) -> Lang {
    state
        .lookup("lang")
        .and_then(|l| l.as_str().and_then(Lang::parse))
        .unwrap_or(Lang::En)
}

/// "2022-01-31" as a reader of `lang` writes it: "31 Jan 2022", "31 janv.
/// 2022"; `None` for anything that is not a calendar date.
fn local_date(lang: Lang, iso: &str) -> Option<String> {
    const EN: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const FR: [&str; 12] = [
        "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.",
        "déc.",
    ];
    let d = chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d").ok()?;
    let m = usize::try_from(chrono::Datelike::month0(&d)).ok()?;
    let names = match lang {
        Lang::Fr => FR,
        Lang::En => EN,
    };
    Some(format!(
        "{} {} {}",
        chrono::Datelike::day(&d),
        names[m],
        chrono::Datelike::year(&d)
    ))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/help", get(help))
        .route("/logout", post(logout))
        .route("/catalogue", get(catalogue))
        .route("/catalogue.ttl", get(catalogue_turtle))
        .route("/catalogue.jsonld", get(catalogue_jsonld))
        .route("/catalogue/diagram", get(diagram))
        .route("/catalogue/nomenclatures", get(nomenclatures))
        .route("/catalogue/nomenclatures/{name}", get(nomenclature))
        .route("/catalogue/datasets/{id}", get(dataset))
        .route("/catalogue/datasets/{id}/tables/{table}", get(table))
        .route(
            "/catalogue/datasets/{id}/tables/{table}/variables/{var}",
            get(variable),
        )
        .route("/catalogue/{id}", get(old_dataset_link))
        .route("/catalogue/{id}/tables/{table}", get(old_table_link))
        .route("/deliver", get(deliver_page).post(deliver))
        .route("/deliveries/{id}", get(ingestion_page))
        .route("/registry", get(registry_page))
        .route("/desk/statistics", get(desk_statistics))
        .route("/requests", get(requests))
        .route("/requests/new", get(new_request_page).post(new_request))
        .route("/requests/{id}", get(request))
        .route("/requests/{id}/action", post(request_action))
        .route(
            "/requests/{id}/edit",
            get(edit_request_page).post(edit_request),
        )
        .route("/requests/{id}/amend", get(amend_page).post(amend))
        .route("/requests/{id}/attachments", post(request_attach))
        .route("/requests/{id}/reviewers", post(request_assign))
        .route("/requests/{id}/interests", post(request_interests))
        .route("/requests/{id}/comments", post(request_comment))
        .route("/inbox", get(inbox))
        .route("/inbox/read", post(inbox_read))
        .route("/registry/{id}", get(registry_project))
        .route("/projects/{id}", get(project))
        .route("/projects/{id}/query", post(project_query))
        .route("/projects/{id}/refresh", post(project_refresh))
        .route("/projects/{id}/tokens", post(project_token))
        .route(
            "/projects/{id}/tokens/{tid}/revoke",
            post(project_token_revoke),
        )
        .route(
            "/projects/{id}/queries/{qid}/cancel",
            post(project_query_cancel),
        )
        .route("/projects/{id}/releases", post(project_release))
        .route("/releases", get(releases))
        .route("/releases/{id}", get(release))
        .route("/releases/{id}/files", post(release_add_file))
        .route("/releases/{id}/figures", post(release_add_figure))
        .route("/releases/{id}/files/{file}", get(release_download))
        .route("/releases/{id}/files/{file}/preview", get(release_preview))
        .route(
            "/releases/{id}/files/{file}/remove",
            post(release_remove_file),
        )
        .route("/releases/{id}/review", post(release_review))
        .route("/releases/{id}/{step}", post(release_step))
        .route("/audit", get(audit))
        .route("/alerts", get(alerts_page))
        .route("/linkage", get(linkage_page).post(linkage_start))
        .route("/linkage/{id}", get(linkage_job_page))
        .route("/linkage/{id}/labels", post(linkage_label))
        .route("/linkage/{id}/publish", post(linkage_publish))
        .route("/alerts/{id}/actions", post(alert_action))
}

/// An error shown as a page (401 becomes a redirect to the sign-in page).
pub struct PageError(AppError);

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError(e)
    }
}

/// An error page still to be rendered in the visitor's language (see [`localise_errors`]).
#[derive(Clone)]
struct ErrorPage {
    status: u16,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if self.0.status == StatusCode::UNAUTHORIZED && self.0.code == "unauthenticated" {
            return Redirect::to("/login").into_response();
        }
        if self.0.code == "terms_not_accepted" {
            return Redirect::to("/terms").into_response();
        }
        let e = self.0.public();
        let mut r = (e.status, Html(e.message.clone())).into_response();
        r.extensions_mut().insert(ErrorPage {
            status: e.status.as_u16(),
            message: e.message,
        });
        r
    }
}

tokio::task_local! {
    /// The path and query of the page being rendered (for the language links).
    static CURRENT_URI: String;
}

/// The current page's address with `lang` set to `code` (other parameters kept).
fn with_lang(here: &str, code: &str) -> String {
    let (path, query) = here.split_once('?').unwrap_or((here, ""));
    let mut parts: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("lang="))
        .collect();
    let lang = format!("lang={code}");
    parts.push(&lang);
    format!("{path}?{}", parts.join("&"))
}

/// Renders error pages in the visitor's language.
pub async fn localise_errors(
    State(st): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let jar = CookieJar::from_headers(req.headers());
    let lang = lang_of(req.headers(), &jar, None);
    let here = if req.method() == axum::http::Method::GET {
        req.uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_default()
    } else {
        // A page drawn in answer to a form: its language links go to the page
        // the form belongs to (`/projects/p/query` → `/projects/p`).
        let path = req.uri().path();
        match path.rsplit_once('/') {
            Some((base, "query" | "releases" | "action" | "decision")) if !base.is_empty() => {
                base.to_string()
            }
            _ => path.to_string(),
        }
    };
    let mut resp = CURRENT_URI.scope(here, next.run(req)).await;
    if let Some(ep) = resp.extensions_mut().remove::<ErrorPage>() {
        let html = st
            .templates
            .get_template("error.html")
            .and_then(|t| {
                t.render(context! {
                    lang => lang.code(), status => ep.status, message => ep.message.clone(),
                    page_help => page_help("error.html", lang),
                })
            })
            .unwrap_or(ep.message);
        let status = resp.status();
        return (status, Html(html)).into_response();
    }
    resp
}

/// "Help on this page": the text of the page drawn by template `name`, and
/// the role whose guide it links to.
fn page_help(name: &str, lang: Lang) -> Option<Value> {
    crate::page_help::page_help(name.trim_end_matches(".html")).map(|(_, role, fr, en)| {
        context! {
            role => *role,
            text => match lang { Lang::Fr => *fr, Lang::En => *en },
        }
    })
}

pub(crate) type PageResult = Result<Response, PageError>;

/// The signed-in caller of a page; anonymous visitors are sent to sign in.
pub struct PageCaller(pub Caller);

impl FromRequestParts<AppState> for PageCaller {
    type Rejection = PageError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let mut c = Caller::from_request_parts(parts, state).await?;
        c.unread = state
            .store
            .unread_notifications(&c.user.id)
            .await
            .map_err(AppError::from)?;
        Ok(PageCaller(c))
    }
}

fn lang_of(headers: &HeaderMap, jar: &CookieJar, q: Option<&str>) -> Lang {
    q.and_then(Lang::parse)
        .or_else(|| jar.get("hdh_lang").and_then(|c| Lang::parse(c.value())))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::parse)
        })
        .unwrap_or(Lang::En)
}

#[derive(Deserialize, Default)]
pub(crate) struct LangQ {
    pub(crate) lang: Option<String>,
}

/// Common context of every page.
pub(crate) struct Ctx {
    lang: Lang,
    caller: Option<Caller>,
    jar: CookieJar,
    set_lang: bool,
}

impl Ctx {
    pub(crate) fn new(
        headers: &HeaderMap,
        jar: CookieJar,
        q: &LangQ,
        caller: Option<Caller>,
    ) -> Ctx {
        Ctx {
            lang: lang_of(headers, &jar, q.lang.as_deref()),
            caller,
            set_lang: q.lang.is_some(),
            jar,
        }
    }

    pub(crate) fn render(self, st: &AppState, name: &str, extra: Value) -> PageResult {
        let user = self.caller.as_ref().map(|c| {
            context! {
                username => c.user.username.clone(),
                display_name => c.user.display_name.clone(),
                roles => c.user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                unread => c.unread,
            }
        });
        let csrf = self
            .caller
            .as_ref()
            .map(|c| c.csrf.clone())
            .unwrap_or_default();
        let here = CURRENT_URI
            .try_with(|u| u.clone())
            .unwrap_or_else(|_| "/".to_string());
        // A form's POST address is no page to switch language on: go to the path.
        let here = if here.is_empty() {
            "/".to_string()
        } else {
            here
        };
        let page_help = page_help(name, self.lang);
        let base = context! {
            lang => self.lang.code(), user => user, csrf => csrf, page_help => page_help,
            lang_fr => with_lang(&here, "fr"), lang_en => with_lang(&here, "en"),
        };
        let ctx = context! { ..base, ..extra };
        let html = st
            .templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| AppError::internal(format!("template {name}: {e:#}")))?;
        let mut jar = self.jar;
        if self.set_lang {
            jar = jar.add(
                Cookie::build(("hdh_lang", self.lang.code()))
                    .path("/")
                    .same_site(SameSite::Lax)
                    .build(),
            );
        }
        Ok((jar, Html(html)).into_response())
    }

    pub(crate) fn lang(&self) -> Lang {
        self.lang
    }

    fn caller(&self) -> Result<&Caller, PageError> {
        self.caller
            .as_ref()
            .ok_or_else(|| PageError(AppError::unauthorized()))
    }
}

async fn home(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    let datasets = st.store.datasets().await.map_err(AppError::from)?;
    let projects = match &c {
        Some(c) => st
            .store
            .projects_of(&c.user.id)
            .await
            .map_err(AppError::from)?,
        None => vec![],
    };
    let todo = match &c {
        Some(c) => to_do(&st, c).await?,
        None => vec![],
    };
    Ctx::new(&headers, jar, &q, c).render(
        &st,
        "home.html",
        context! { datasets => datasets, projects => projects, todo => todo },
    )
}

/// What waits for the caller, by role: (what, how many, where), the
/// things that wait only (a count of zero is left out).
async fn to_do(st: &AppState, c: &Caller) -> Result<Vec<serde_json::Value>, AppError> {
    let mut todo = Vec::new();
    let mut add = |what: &str, n: usize, href: &str| {
        if n > 0 {
            todo.push(serde_json::json!({ "what": what, "count": n, "href": href }));
        }
    };
    let all = service::list_requests(st, c).await?;
    let mine = |states: &[AccessRequestState]| {
        all.iter()
            .filter(|r| r.applicant_id == c.user.id && states.contains(&r.state))
            .count()
    };
    add(
        "todo.sent_back",
        mine(&[AccessRequestState::SentBack]),
        "/requests",
    );
    add(
        "todo.drafts",
        mine(&[AccessRequestState::Draft]),
        "/requests",
    );
    let reviews = all
        .iter()
        .filter(|r| {
            r.state.reviewer().is_some_and(|role| c.has(role)) && r.applicant_id != c.user.id
        })
        .count();
    add("todo.reviews", reviews, "/requests");
    if c.has(Role::Checker) {
        let waiting = st
            .store
            .releases_for_checkers()
            .await
            .map_err(AppError::from)?
            .iter()
            .filter(|r| {
                matches!(
                    r.state,
                    hdh_model::release::ReleaseState::Submitted
                        | hdh_model::release::ReleaseState::PartiallyReviewed
                ) && r.requester_id != c.user.id
            })
            .count();
        add("todo.releases", waiting, "/releases");
    }
    if c.has(Role::SecurityOfficer) {
        let open = st
            .store
            .alerts(Some("open"), None)
            .await
            .map_err(AppError::from)?
            .len();
        add("todo.alerts", open, "/alerts?state=open");
    }
    let unread = st
        .store
        .unread_notifications(&c.user.id)
        .await
        .map_err(AppError::from)?;
    add(
        "todo.unread",
        usize::try_from(unread).unwrap_or(0),
        "/inbox",
    );
    Ok(todo)
}

/// How the hub works, and a guide per role (public; the caller's roles
/// marked).
async fn help(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    Ctx::new(&headers, jar, &q, c).render(&st, "help.html", context! { roles => roles })
}

/// The cookie that ties the sign-in form to the browser that loaded it.
const SIGN_IN_COOKIE: &str = "hdh_signin";

/// The sign-in form, with a token that its POST must bring back in a field
/// and in the `hdh_signin` cookie (`SameSite=Strict`): another site cannot
/// post it, so nobody can sign a visitor in to an account of their choosing
/// (login CSRF).
fn login_form(
    st: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    q: &LangQ,
    extra: Value,
) -> PageResult {
    let token = crate::auth::random_token(24);
    let jar = jar.add(
        Cookie::build((SIGN_IN_COOKIE, token.clone()))
            .path("/login")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(st.config.secure_cookies)
            .build(),
    );
    Ctx::new(headers, jar, q, None).render(
        st,
        "login.html",
        context! { signin_token => token, ..extra },
    )
}

async fn login_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
) -> PageResult {
    login_form(&st, &headers, jar, &q, context! {})
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    /// The form's token (see [`login_form`]).
    signin_token: Option<String>,
}

async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    origin: crate::auth::Origin,
    caller: crate::auth::MaybeCaller,
    Form(f): Form<LoginForm>,
) -> PageResult {
    let expected = jar.get(SIGN_IN_COOKIE).map(|c| c.value().to_string());
    let genuine = matches!(
        (&expected, &f.signin_token),
        (Some(a), Some(b)) if crate::auth::constant_eq(a.as_bytes(), b.as_bytes())
    );
    if !genuine {
        // Posted from elsewhere than this hub's form (or a form too old):
        // nothing is tried, and the visitor gets a fresh form.
        let mut ev = hdh_model::AuditEvent::new("auth.sign_in", "session");
        ev.actor_name = Some(f.username.chars().take(64).collect());
        ev.client_addr = origin.addr.clone();
        ev.details = serde_json::json!({ "reason": "sign-in form without its token (login CSRF, or an expired form)" });
        st.store
            .audit(&ev.outcome(hdh_model::Outcome::Denied))
            .await
            .map_err(AppError::from)?;
        let mut r = login_form(
            &st,
            &headers,
            jar,
            &LangQ::default(),
            context! {
                error => "this sign-in form has expired or was not sent from this hub: sign in again here",
                username => f.username,
            },
        )?;
        *r.status_mut() = StatusCode::FORBIDDEN;
        return Ok(r);
    }
    let jar = jar.remove(Cookie::build(SIGN_IN_COOKIE).path("/login").build());
    // A new session at every sign-in: the one this browser held (if any)
    // ends, so that a session fixed before sign-in is never promoted.
    if let Some(old) = caller.0 {
        crate::auth::sign_out(&st, &old).await?;
    }
    match crate::auth::sign_in(&st, &f.username, &f.password, origin).await {
        Ok(s) => {
            let cookie = Cookie::build((COOKIE, s.token))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(st.config.secure_cookies)
                .build();
            // The terms of use first, when not accepted yet.
            let next = if st.config.terms.accepted_by(&s.user) {
                "/"
            } else {
                "/terms"
            };
            Ok((jar.add(cookie), Redirect::to(next)).into_response())
        }
        Err(e) => {
            let mut r = login_form(
                &st,
                &headers,
                jar,
                &LangQ::default(),
                context! { error => e.message, username => f.username },
            )?;
            *r.status_mut() = e.status;
            Ok(r)
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    pub(crate) csrf: Option<String>,
    /// The "I confirm" box of an action that cannot be undone.
    pub(crate) confirm: Option<String>,
}

/// The request actions that cannot be undone: their forms carry a required
/// "I confirm" box (which works without scripts), checked here as well.
const CONFIRMED_ACTIONS: &[&str] = &[
    "refuse",
    "withdraw",
    "authorise",
    "opinion",
    "agree",
    "close",
];

/// Refuses an irreversible action whose form came without its ticked
/// "I confirm" box.
pub(crate) fn confirmed(confirm: Option<&str>) -> Result<(), AppError> {
    match confirm {
        Some("yes" | "on") => Ok(()),
        _ => Err(AppError::unprocessable(
            "confirm: this action cannot be undone; tick the box \"I confirm\" next to its button",
        )),
    }
}

async fn logout(
    State(st): State<AppState>,
    jar: CookieJar,
    PageCaller(c): PageCaller,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    crate::auth::sign_out(&st, &c).await?;
    Ok((
        jar.remove(Cookie::build(COOKIE).path("/").build()),
        Redirect::to("/"),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
struct SearchQ {
    q: Option<String>,
    lang: Option<String>,
    /// Facet filters, `name:value`, repeated.
    #[serde(default)]
    f: Vec<String>,
    page: Option<usize>,
}

/// Facet names shown on the catalogue page, in order.
const FACETS: [&str; 5] = ["kind", "producer", "product", "theme", "coding_system"];

async fn catalogue(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    axum_extra::extract::Query(q): axum_extra::extract::Query<SearchQ>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    let ctx = Ctx::new(
        &headers,
        jar,
        &LangQ {
            lang: q.lang.clone(),
        },
        c,
    );
    let lang = ctx.lang.code();
    let mut datasets = Vec::new();
    for d in st.store.datasets().await.map_err(AppError::from)? {
        let v = st
            .store
            .latest_version(&d.id)
            .await
            .map_err(AppError::from)?;
        let stats = catalog::latest_statistics(&st, &d.id).await?;
        let tables = st
            .store
            .catalog_tables_of(&d.id)
            .await
            .map_err(AppError::from)?;
        let meta = hdh_catalog::DatasetMetadata::from_json_value(&d.metadata).ok();
        datasets.push(context! {
            d => d,
            v => v,
            stats => stats,
            tables => tables.len(),
            variables => tables.iter().map(|t| t.variable_count).sum::<i64>(),
            product => meta.as_ref().and_then(|m| m.product.clone()),
            href => catalog::dataset_url(&d.id),
        });
    }
    let query = q.q.clone().unwrap_or_default();
    let filters: Vec<(String, String)> =
        q.f.iter()
            .filter_map(|f| f.split_once(':'))
            .filter(|(k, _)| FACETS.contains(k))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let searching = !query.trim().is_empty() || !filters.is_empty();
    let page = q.page.unwrap_or(1).clamp(1, 50);
    let results = if searching {
        let _ = catalog::sync_search_soon(&st).await;
        let sq = hdh_search::SearchQuery {
            text: query.clone(),
            filters: filters.clone(),
            limit: 20,
            offset: (page - 1) * 20,
        };
        Some(
            st.search
                .search(&sq)
                .map_err(|e| AppError::internal(format!("search: {e}")))?,
        )
    } else {
        None
    };
    // Facet links: each value toggles its filter, keeping the others.
    let link = |toggle: Option<(&str, &str)>| -> String {
        let mut parts = vec![];
        if !query.is_empty() {
            parts.push(format!("q={}", catalog::seg(&query)));
        }
        let mut fs = filters.clone();
        if let Some((k, v)) = toggle {
            if let Some(i) = fs.iter().position(|(a, b)| a == k && b == v) {
                fs.remove(i);
            } else {
                fs.push((k.to_string(), v.to_string()));
            }
        }
        for (k, v) in fs {
            parts.push(format!("f={}", catalog::seg(&format!("{k}:{v}"))));
        }
        format!("/catalogue?{}", parts.join("&"))
    };
    // The home (no query) shows the datasets' facets as entry points.
    let home_facets = if results.is_none() {
        let _ = catalog::sync_search_soon(&st).await;
        st.search
            .search(&hdh_search::SearchQuery {
                text: String::new(),
                filters: vec![("kind".into(), "dataset".into())],
                limit: 1,
                offset: 0,
            })
            .ok()
    } else {
        None
    };
    let facets: Vec<Value> = match results.as_ref().or(home_facets.as_ref()) {
        Some(r) => FACETS
            .iter()
            .filter_map(|name| {
                let values = r.facets.get(*name)?;
                Some(context! {
                    name => *name,
                    values => values.iter().take(12).map(|(v, n)| context! {
                        value => v,
                        label => facet_label(name, v, lang),
                        count => n,
                        active => filters.iter().any(|(a, b)| a == name && b == v),
                        href => link(Some((name, v))),
                    }).collect::<Vec<_>>(),
                })
            })
            .collect(),
        None => vec![],
    };
    let pages = results
        .as_ref()
        .map(|r| r.total.div_ceil(20).min(50))
        .unwrap_or(0);
    let base_link = link(None);
    ctx.render(
        &st,
        "catalogue.html",
        context! {
            datasets => datasets,
            q => query,
            results => results,
            facets => facets,
            filters => filters.iter().map(|(k, v)| context! { name => k, value => v, label => facet_label(k, v, lang), href => link(Some((k, v))) }).collect::<Vec<_>>(),
            page => page,
            pages => pages,
            page_link => format!("{base_link}{}page=", if base_link.ends_with('?') { "" } else { "&" }),
        },
    )
}

fn facet_label(name: &str, value: &str, lang: &str) -> String {
    match name {
        "kind" => crate::i18n::t(
            if lang == "en" {
                crate::i18n::Lang::En
            } else {
                crate::i18n::Lang::Fr
            },
            &format!("kind.{value}"),
        ),
        "theme" => hdh_catalog::metadata::DATA_THEMES
            .iter()
            .find(|(c, _, _)| *c == value)
            .map(|(_, fr, en)| if lang == "en" { *en } else { *fr }.to_string())
            .unwrap_or_else(|| value.to_string()),
        "coding_system" => hdh_catalog::metadata::coding_system(value)
            .map(|c| c.label.to_string())
            .unwrap_or_else(|| value.to_string()),
        _ => value.to_string(),
    }
}

pub(crate) fn public_base(st: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &st.config.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

#[derive(Deserialize, Default)]
struct RdfQ {
    page: Option<usize>,
}

async fn rdf_response(
    st: &AppState,
    headers: &HeaderMap,
    dataset: Option<&str>,
    page: Option<usize>,
    format: hdh_catalog::dcat::RdfFormat,
) -> Result<axum::response::Response, AppError> {
    let base = public_base(st, headers);
    let body = catalog::export_rdf(st, &base, dataset, page, 50, format).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            format!("{}; charset=utf-8", format.media_type()),
        )],
        body,
    )
        .into_response())
}

/// `/catalogue.ttl` and `/catalogue.jsonld`: one page of the catalogue as RDF.
async fn catalogue_rdf(
    st: AppState,
    headers: HeaderMap,
    q: RdfQ,
    format: hdh_catalog::dcat::RdfFormat,
) -> Result<axum::response::Response, AppError> {
    rdf_response(&st, &headers, None, Some(q.page.unwrap_or(1)), format).await
}

async fn catalogue_turtle(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<RdfQ>,
) -> Result<axum::response::Response, AppError> {
    catalogue_rdf(st, headers, q, hdh_catalog::dcat::RdfFormat::Turtle).await
}

async fn catalogue_jsonld(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<RdfQ>,
) -> Result<axum::response::Response, AppError> {
    catalogue_rdf(st, headers, q, hdh_catalog::dcat::RdfFormat::JsonLd).await
}

async fn old_dataset_link(Path(id): Path<String>) -> axum::response::Redirect {
    axum::response::Redirect::permanent(&catalog::dataset_url(&id))
}

async fn old_table_link(Path((id, t)): Path<(String, String)>) -> axum::response::Redirect {
    axum::response::Redirect::permanent(&catalog::table_url(&id, &t))
}

/// Projects (from the desk) whose scope includes a dataset: those in the
/// public registry (every request from its submission on), and drafts to
/// those who may see them.
async fn projects_using(
    st: &AppState,
    caller: Option<&Caller>,
    dataset_id: &str,
) -> Result<Vec<Value>, AppError> {
    let filter = crate::registry::RegistryFilter {
        dataset: Some(dataset_id.to_string()),
        ..Default::default()
    };
    let public: std::collections::HashSet<String> = crate::registry::entries(st, &filter)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    let mut out = Vec::new();
    for r in st.store.requests().await.map_err(AppError::from)? {
        if !r.scope.iter().any(|s| s.dataset_id == dataset_id) {
            continue;
        }
        let is_public = public.contains(&r.id);
        let visible = caller.is_some_and(|c| service::can_view_request(c, &r));
        if !is_public && !visible {
            continue;
        }
        out.push(context! {
            title => r.title,
            state => r.state.as_str(),
            href => if visible { format!("/requests/{}", r.id) } else { format!("/registry/{}", r.id) },
            tables => r.scope.iter().filter(|s| s.dataset_id == dataset_id).map(|s| s.table.clone()).collect::<Vec<_>>(),
        });
    }
    Ok(out)
}

async fn dataset(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    Path(id): Path<String>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    for format in [
        hdh_catalog::dcat::RdfFormat::Turtle,
        hdh_catalog::dcat::RdfFormat::JsonLd,
    ] {
        if let Some(base) = id.strip_suffix(&format!(".{}", format.extension())) {
            return Ok(rdf_response(&st, &headers, Some(base), None, format).await?);
        }
    }
    let d = st
        .store
        .dataset(&id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| AppError::not_found(format!("dataset {id}")))?;
    let meta = hdh_catalog::DatasetMetadata::from_json_value(&d.metadata)
        .unwrap_or_else(|_| hdh_catalog::DatasetMetadata::untitled(&d.id, &d.producer_name));
    let versions = st.store.versions(&id).await.map_err(AppError::from)?;
    let tables = st
        .store
        .catalog_tables_of(&id)
        .await
        .map_err(AppError::from)?;
    let stats = catalog::latest_statistics(&st, &id).await?;
    let dir = catalog::TableDirectory::load(&st).await?;
    // The dataset's tables and the tables they join (other datasets of the
    // same package: the DCIR joins IR_BEN_R in BENEFICIAIRE).
    let mut shown: Vec<&hdh_store::CatalogTable> =
        dir.tables().iter().filter(|t| t.dataset_id == id).collect();
    let mut extra = Vec::new();
    for t in &shown {
        if let Ok(s) = hdh_model::schema::TableSchema::from_json_value(&t.schema) {
            for fk in &s.foreign_keys {
                if let Some(target) = dir.resolve(t, &fk.reference.resource)
                    && target.dataset_id != id
                    && !extra.iter().any(|e: &&hdh_store::CatalogTable| {
                        e.dataset_id == target.dataset_id && e.table_name == target.table_name
                    })
                {
                    extra.push(target);
                }
            }
        }
    }
    shown.extend(extra);
    let diagram = (!shown.is_empty()).then(|| {
        hdh_catalog::diagram::render_svg(
            &dir.diagram(&shown),
            &format!("{} — {}", d.id, meta.title.get("fr")),
        )
    });
    let ctx = Ctx::new(&headers, jar, &q, c);
    let lang = ctx.lang.code();
    let themes: Vec<String> = meta
        .themes
        .iter()
        .map(|t| facet_label("theme", t, lang))
        .collect();
    let coding: Vec<String> = meta
        .coding_systems
        .iter()
        .map(|t| facet_label("coding_system", t, lang))
        .collect();
    let projects = projects_using(&st, ctx.caller.as_ref(), &id).await?;
    // The latest version's quality report, drawn per table.
    let latest = versions.first().map(|v| v.version);
    let quality = match latest {
        Some(v) => st.store.quality(&id, v).await.map_err(AppError::from)?,
        None => None,
    };
    let quality_svgs: std::collections::BTreeMap<String, String> = quality
        .as_ref()
        .and_then(|q| serde_json::from_value::<hdh_catalog::quality::QualityReport>(q.clone()).ok())
        .map(|q| {
            q.tables
                .iter()
                .map(|t| {
                    (
                        t.table.clone(),
                        hdh_catalog::quality::completeness_svg(t, lang),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let ingestions = match &ctx.caller {
        Some(c) => crate::ingestion::dataset_ingestions(&st, c, &id).await?,
        None => vec![],
    };
    let table_rows: Vec<Value> = tables
        .iter()
        .map(|t| {
            let ts = stats.as_ref().and_then(|s| s.table(&t.table_name));
            context! {
                name => t.table_name,
                title => t.title,
                variables => t.variable_count,
                records => ts.map(|s| s.records),
                href => catalog::table_url(&id, &t.table_name),
            }
        })
        .collect();
    ctx.render(
        &st,
        "dataset.html",
        context! {
            d => d,
            m => meta.to_json_value(),
            frequency => meta.update_frequency.label(lang),
            access_rights => meta.access_rights.code(),
            themes => themes,
            coding => coding,
            versions => versions,
            tables => table_rows,
            stats => stats,
            diagram => diagram,
            projects => projects,
            quality => quality,
            quality_svgs => quality_svgs,
            ingestions => ingestions,
            ttl => format!("{}.ttl", catalog::dataset_url(&id)),
            jsonld => format!("{}.jsonld", catalog::dataset_url(&id)),
        },
    )
}

async fn load_table(
    st: &AppState,
    id: &str,
    name: &str,
) -> Result<(hdh_store::Dataset, hdh_store::CatalogTable), AppError> {
    let d = st
        .store
        .dataset(id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| AppError::not_found(format!("dataset {id}")))?;
    let t = st
        .store
        .catalog_table(id, name)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| AppError::not_found(format!("table {name} in dataset {id}")))?;
    Ok((d, t))
}

async fn table(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    Path((id, name)): Path<(String, String)>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    let (d, t) = load_table(&st, &id, &name).await?;
    let dir = catalog::TableDirectory::load(&st).await?;
    let view = catalog::table_view(&st, &dir, &t).await?;
    // The table, the tables it references and those referencing it.
    let mut shown: Vec<&hdh_store::CatalogTable> = vec![&t];
    shown.extend(dir.neighbours(&t));
    let diagram = (shown.len() > 1).then(|| {
        let dg = dir.diagram(&shown);
        let focus = dg
            .tables
            .iter()
            .find(|x| x.href.as_deref() == Some(catalog::table_url(&id, &name).as_str()))
            .map(|x| x.name.clone())
            .unwrap_or_else(|| name.clone());
        hdh_catalog::diagram::render_svg_focused(&dg, &focus, &format!("{name} — {}", t.title))
    });
    let version = st.store.latest_version(&id).await.map_err(AppError::from)?;
    Ctx::new(&headers, jar, &q, c).render(
        &st,
        "table.html",
        context! {
            d => d,
            tb => view,
            v => version,
            diagram => diagram,
            dataset_href => catalog::dataset_url(&id),
            variable_base => format!("{}/variables/", catalog::table_url(&id, &name)),
        },
    )
}

async fn variable(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    Path((id, name, var)): Path<(String, String, String)>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    let (d, t) = load_table(&st, &id, &name).await?;
    let dir = catalog::TableDirectory::load(&st).await?;
    let view = catalog::table_view(&st, &dir, &t).await?;
    let v = view
        .variables
        .iter()
        .find(|v| v.name == var)
        .cloned()
        .ok_or_else(|| AppError::not_found(format!("variable {var} in table {name}")))?;
    let ctx = Ctx::new(&headers, jar, &q, c);
    let suppressed = format!("< {}", st.config.release_threshold);
    let chart = v.stats.as_ref().and_then(|s| {
        hdh_catalog::chart::distribution_svg(&s.distribution, &format!("{name}.{var}"), &suppressed)
    });
    // A few codes of the nomenclature, with their labels, for the top values.
    let mut labels: Vec<(String, String)> = Vec::new();
    if let (Some(n), Some(s)) = (&v.nomenclature, &v.stats)
        && let hdh_catalog::stats::Distribution::TopValues { bars, .. } = &s.distribution
    {
        for b in bars.iter().take(15) {
            if let Some(c) = st
                .store
                .nomenclature_code(n, &b.label)
                .await
                .map_err(AppError::from)?
                .first()
            {
                labels.push((b.label.clone(), c.label.clone()));
            }
        }
    }
    ctx.render(
        &st,
        "variable.html",
        context! {
            d => d,
            tb => context! { name => view.name, title => view.title, href => catalog::table_url(&id, &name) },
            dataset_href => catalog::dataset_url(&id),
            v => v,
            chart => chart,
            labels => labels,
            threshold => st.config.release_threshold,
            nomenclature_href => v.nomenclature.as_deref().map(catalog::nomenclature_url),
        },
    )
}

async fn diagram(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    let dir = catalog::TableDirectory::load(&st).await?;
    // One diagram per source (a package's tables join; deliveries stand alone).
    let mut sources: Vec<String> = dir.tables().iter().map(|t| t.source.clone()).collect();
    sources.sort();
    sources.dedup();
    let mut diagrams = Vec::new();
    for s in sources {
        let tables: Vec<&hdh_store::CatalogTable> =
            dir.tables().iter().filter(|t| t.source == s).collect();
        let groups: Vec<String> = {
            let mut g: Vec<String> = tables.iter().map(|t| t.product.clone()).collect();
            g.sort();
            g.dedup();
            g
        };
        let dg = dir.diagram(&tables);
        diagrams.push(context! {
            source => s,
            tables => tables.len(),
            edges => dg.edges.len(),
            groups => groups,
            svg => hdh_catalog::diagram::render_svg(&dg, &s),
        });
    }
    Ctx::new(&headers, jar, &q, c).render(&st, "diagram.html", context! { diagrams => diagrams })
}

async fn nomenclatures(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    let list: Vec<Value> = st
        .store
        .nomenclatures()
        .await
        .map_err(AppError::from)?
        .into_iter()
        .map(|n| {
            context! {
                href => catalog::nomenclature_url(&n.name),
                coding_system => hdh_catalog::metadata::coding_system_of(&n.name).map(|c| c.label),
                n => n,
            }
        })
        .collect();
    Ctx::new(&headers, jar, &q, c).render(&st, "nomenclatures.html", context! { list => list })
}

#[derive(Deserialize, Default)]
struct NomenclatureQ {
    lang: Option<String>,
    q: Option<String>,
    code: Option<String>,
    page: Option<i64>,
}

async fn nomenclature(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<NomenclatureQ>,
    Path(name): Path<String>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    let n = st
        .store
        .nomenclature(&name)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| AppError::not_found(format!("nomenclature {name}")))?;
    const SIZE: i64 = 100;
    let page = q.page.unwrap_or(1).max(1);
    let query = q.q.clone().unwrap_or_default();
    let (rows, total, searched) = if let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) {
        let rows = st
            .store
            .nomenclature_code(&name, code)
            .await
            .map_err(AppError::from)?;
        let n = rows.len();
        (rows, n as i64, true)
    } else if !query.trim().is_empty() {
        let _ = catalog::sync_search_soon(&st).await;
        let r = st
            .search
            .search(&hdh_search::SearchQuery {
                text: query.clone(),
                filters: vec![
                    ("nomenclature".into(), name.clone()),
                    ("kind".into(), "code".into()),
                ],
                limit: 100,
                offset: 0,
            })
            .map_err(|e| AppError::internal(format!("search: {e}")))?;
        let mut rows = Vec::new();
        for h in &r.hits {
            let ordinal = h
                .key
                .rsplit('/')
                .next()
                .and_then(|o| o.parse::<i64>().ok())
                .unwrap_or(-1);
            if let Some(c) = st
                .store
                .nomenclature_codes(&name, ordinal, 1)
                .await
                .map_err(AppError::from)?
                .into_iter()
                .next()
            {
                rows.push(c);
            }
        }
        (rows, r.total as i64, true)
    } else {
        let rows = st
            .store
            .nomenclature_codes(&name, (page - 1) * SIZE, SIZE)
            .await
            .map_err(AppError::from)?;
        (rows, n.row_count, false)
    };
    let pages = if searched {
        1
    } else {
        (n.row_count + SIZE - 1) / SIZE
    };
    let lang_q = LangQ {
        lang: q.lang.clone(),
    };
    Ctx::new(&headers, jar, &lang_q, c).render(
        &st,
        "nomenclature.html",
        context! {
            n => n,
            rows => rows,
            total => total,
            q => query,
            code => q.code,
            searched => searched,
            page => page,
            pages => pages,
            coding_system => hdh_catalog::metadata::coding_system_of(&name).map(|c| c.label),
        },
    )
}

async fn deliver_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    let ctx = Ctx::new(&headers, jar, &q, c);
    ctx.caller()?;
    ctx.render(&st, "deliver.html", context! {})
}

async fn deliver(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    PageCaller(c): PageCaller,
    mp: Multipart,
) -> PageResult {
    let (upload, fields) = crate::api::read_upload(&st, mp).await?;
    c.check_csrf(fields.get("csrf").map(String::as_str))?;
    let dataset_id = fields
        .get("dataset_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let rep = service::deliver(&st, &c, &dataset_id, &upload.files).await?;
    let status = if rep.accepted {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut r = Ctx::new(&headers, jar, &LangQ::default(), Some(c)).render(
        &st,
        "deliver.html",
        context! { report => rep, dataset_id => dataset_id },
    )?;
    *r.status_mut() = status;
    Ok(r)
}

/// The desk's delays, drawn (public).
async fn desk_statistics(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    use hdh_catalog::stats::Bar;
    let stats = crate::desk::statistics(&st).await?;
    let lang = lang_of(&headers, &jar, q.lang.as_deref());
    let tr = |k: &str| t(lang, k);
    let bars = |f: &dyn Fn(&hdh_desk::StepStats) -> Option<f64>| -> Vec<Bar> {
        stats
            .steps
            .iter()
            .map(|s| Bar {
                label: tr(&format!("state.{}", s.step.as_str())),
                count: Some(f(s).map_or(0, |v| v.round() as u64)),
            })
            .collect()
    };
    let median_svg =
        hdh_catalog::chart::bar_chart_svg(&bars(&|s| s.median_days), &tr("stats.median_chart"), "");
    let p90_svg =
        hdh_catalog::chart::bar_chart_svg(&bars(&|s| s.p90_days), &tr("stats.p90_chart"), "");
    let months: Vec<Bar> = stats
        .submitted_per_month
        .iter()
        .map(|(m, n)| Bar {
            label: m.clone(),
            count: Some(*n),
        })
        .collect();
    let months_svg = hdh_catalog::chart::histogram_svg(&months, &tr("stats.month_chart"), "");
    Ctx::new(&headers, jar, &q, c).render(
        &st,
        "statistics.html",
        context! {
            stats => stats, median_svg => median_svg, p90_svg => p90_svg, months_svg => months_svg,
        },
    )
}

#[derive(Deserialize, Default)]
struct RegistryQ {
    lang: Option<String>,
    q: Option<String>,
    status: Option<String>,
    dataset: Option<String>,
}

/// The public registry of projects (no sign-in).
async fn registry_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(rq): Query<RegistryQ>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    let filter = crate::registry::RegistryFilter {
        q: rq.q.clone(),
        status: rq.status.clone(),
        dataset: rq.dataset.clone(),
    };
    let all = crate::registry::entries(&st, &crate::registry::RegistryFilter::default()).await?;
    let datasets: std::collections::BTreeSet<String> = all
        .iter()
        .flat_map(|e| e.datasets.iter().cloned())
        .collect();
    let projects: Vec<_> = all.into_iter().filter(|e| filter.keeps(e)).collect();
    let statuses: Vec<&str> = hdh_model::request::AccessRequestState::ALL
        .iter()
        .filter(|s| **s != hdh_model::request::AccessRequestState::Draft)
        .map(|s| s.as_str())
        .collect();
    let mut qs = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("q", &rq.q),
        ("status", &rq.status),
        ("dataset", &rq.dataset),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            qs.append_pair(k, v);
        }
    }
    let qs = qs.finish();
    let query = if qs.is_empty() {
        String::new()
    } else {
        format!("?{qs}")
    };
    let lang = LangQ { lang: rq.lang };
    Ctx::new(&headers, jar, &lang, c).render(
        &st,
        "registry.html",
        context! {
            projects => projects, datasets => datasets, statuses => statuses, query => query,
            filter => context! { q => rq.q, status => rq.status, dataset => rq.dataset },
        },
    )
}

async fn requests(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let all = service::list_requests(&st, &c).await?;
    // The caller's queue, the most urgent first, each with its clock.
    let today = crate::desk::today();
    let mut to_review: Vec<(i64, serde_json::Value)> = Vec::new();
    for r in all.iter().filter(|r| {
        r.state.reviewer().is_some_and(|role| c.has(role)) && r.applicant_id != c.user.id
    }) {
        let events = st
            .store
            .request_events(&r.id)
            .await
            .map_err(AppError::from)?;
        let clock = crate::desk::clocks(&st, r, &events, today)
            .into_iter()
            .find(|k| k.step == r.state);
        let left = clock.as_ref().map_or(i64::MAX, |k| k.days_left);
        let mut v = serde_json::to_value(r).unwrap_or_default();
        v["clock"] = serde_json::to_value(&clock).unwrap_or_default();
        to_review.push((left, v));
    }
    to_review.sort_by_key(|(left, _)| *left);
    let to_review: Vec<serde_json::Value> = to_review.into_iter().map(|(_, v)| v).collect();
    // The secretariat's other task: requests under ethics review without a
    // reviewer (none assigned, or every one recused).
    let mut to_assign: Vec<&hdh_store::AccessRequest> = Vec::new();
    if c.has(Role::Secretariat) {
        for r in all
            .iter()
            .filter(|r| r.state == AccessRequestState::EthicsReview && r.applicant_id != c.user.id)
        {
            let reviewers = st.store.reviewers(&r.id).await.map_err(AppError::from)?;
            if reviewers
                .iter()
                .all(|x| x.declaration.as_deref() == Some("conflict"))
            {
                to_assign.push(r);
            }
        }
    }
    // The applicant's view: where each request stands and who must act.
    let mut mine: Vec<serde_json::Value> = Vec::new();
    for r in all.iter().filter(|r| r.applicant_id == c.user.id) {
        let events = st
            .store
            .request_events(&r.id)
            .await
            .map_err(AppError::from)?;
        let clock = crate::desk::clocks(&st, r, &events, today)
            .into_iter()
            .find(|k| k.step == r.state);
        let waiting = match r.state {
            AccessRequestState::Draft | AccessRequestState::SentBack => Some("you"),
            AccessRequestState::Authorised => Some("hub"),
            AccessRequestState::Active => None,
            s => s.reviewer().map(|role| role.as_str()),
        };
        let mut v = serde_json::to_value(r).unwrap_or_default();
        v["clock"] = serde_json::to_value(&clock).unwrap_or_default();
        v["waiting"] = serde_json::to_value(waiting).unwrap_or_default();
        mine.push(v);
    }
    let staff = [
        Role::Secretariat,
        Role::Committee,
        Role::Authority,
        Role::Admin,
        Role::SecurityOfficer,
    ]
    .iter()
    .any(|r| c.has(*r));
    Ctx::new(&headers, jar, &q, Some(c)).render(
        &st,
        "requests.html",
        context! { mine => mine, to_review => to_review, to_assign => to_assign, all => if staff { all.clone() } else { vec![] } },
    )
}

/// The columns a requester may pick: every table of every dataset's latest version.
async fn pickable(st: &AppState) -> Result<Vec<Value>, AppError> {
    let mut out = Vec::new();
    for d in st.store.datasets().await? {
        let Some(v) = st.store.latest_version(&d.id).await? else {
            continue;
        };
        let tables = st.store.tables(&d.id, v.version).await?;
        out.push(context! { d => d, tables => tables });
    }
    Ok(out)
}

#[derive(Deserialize, serde::Serialize, Default)]
struct RequestForm {
    csrf: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    public_interest: String,
    #[serde(default)]
    period_start: String,
    #[serde(default)]
    period_end: String,
    #[serde(default)]
    duration_months: String,
    /// `dataset|table|column`, one per checked box.
    #[serde(default)]
    cols: Vec<String>,
    #[serde(default)]
    route: String,
    #[serde(default)]
    summary_public: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    population: String,
    #[serde(default)]
    linkage: String,
    #[serde(default)]
    methodology: String,
    #[serde(default)]
    expected_results: String,
    #[serde(default)]
    funding: String,
    #[serde(default)]
    conflicts_of_interest: String,
    #[serde(default)]
    changes: String,
    #[serde(default)]
    team_name: Vec<String>,
    #[serde(default)]
    team_role: Vec<String>,
    #[serde(default)]
    team_org: Vec<String>,
    #[serde(default)]
    team_user: Vec<String>,
    /// Population criteria, one row each: `dataset|table`, column, codes
    /// (comma-separated prefixes), window, minimum rows, include/exclude.
    #[serde(default)]
    crit_table: Vec<String>,
    #[serde(default)]
    crit_column: Vec<String>,
    #[serde(default)]
    crit_codes: Vec<String>,
    #[serde(default)]
    crit_from: Vec<String>,
    #[serde(default)]
    crit_to: Vec<String>,
    #[serde(default)]
    crit_min: Vec<String>,
    #[serde(default)]
    crit_mode: Vec<String>,
}

impl RequestForm {
    fn criteria(&self) -> Vec<hdh_model::PopulationCriterion> {
        let at =
            |v: &Vec<String>, i: usize| v.get(i).map(|s| s.trim().to_string()).unwrap_or_default();
        (0..self.crit_table.len())
            .filter(|&i| !at(&self.crit_table, i).is_empty())
            .map(|i| {
                let table = at(&self.crit_table, i);
                let (dataset, table) = table.split_once('|').unwrap_or(("", table.as_str()));
                hdh_model::PopulationCriterion {
                    dataset: dataset.to_string(),
                    table: table.to_string(),
                    column: at(&self.crit_column, i),
                    codes: at(&self.crit_codes, i)
                        .split([',', ' ', ';'])
                        .filter(|c| !c.is_empty())
                        .map(str::to_string)
                        .collect(),
                    from: chrono::NaiveDate::parse_from_str(&at(&self.crit_from, i), "%Y-%m-%d")
                        .ok(),
                    to: chrono::NaiveDate::parse_from_str(&at(&self.crit_to, i), "%Y-%m-%d").ok(),
                    min_rows: at(&self.crit_min, i).parse().unwrap_or(1),
                    exclude: at(&self.crit_mode, i) == "exclude",
                }
            })
            .collect()
    }

    fn input(&self) -> RequestInput {
        let mut scope: Vec<ScopeItem> = Vec::new();
        for v in &self.cols {
            let parts: Vec<&str> = v.splitn(3, '|').collect();
            if let [d, t, col] = parts[..] {
                match scope.iter_mut().find(|s| s.dataset_id == d && s.table == t) {
                    Some(s) => s.columns.push(col.to_string()),
                    None => scope.push(ScopeItem {
                        dataset_id: d.into(),
                        table: t.into(),
                        columns: vec![col.into()],
                        version: None,
                    }),
                }
            }
        }
        let at =
            |v: &Vec<String>, i: usize| v.get(i).map(|s| s.trim().to_string()).unwrap_or_default();
        let team = (0..self.team_name.len())
            .map(|i| hdh_model::request::TeamMember {
                name: at(&self.team_name, i),
                role: at(&self.team_role, i),
                organisation: at(&self.team_org, i),
                username: Some(at(&self.team_user, i)).filter(|u| !u.is_empty()),
            })
            .collect();
        RequestInput {
            title: self.title.clone(),
            purpose: self.purpose.clone(),
            public_interest: self.public_interest.clone(),
            scope,
            period_start: self.period_start.clone(),
            period_end: self.period_end.clone(),
            duration_months: self.duration_months.trim().parse().unwrap_or(0),
            details: hdh_model::RequestDetails {
                summary_public: self.summary_public.clone(),
                organisation: self.organisation.clone(),
                team,
                population: self.population.clone(),
                linkage: self.linkage.clone(),
                methodology: self.methodology.clone(),
                expected_results: self.expected_results.clone(),
                funding: self.funding.clone(),
                conflicts_of_interest: self.conflicts_of_interest.clone(),
                changes: self.changes.clone(),
                results: String::new(),
                criteria: self.criteria(),
            },
            route: Some(self.route.clone()).filter(|r| !r.is_empty()),
        }
    }

    fn of(r: &hdh_store::AccessRequest) -> RequestForm {
        let d = &r.details;
        RequestForm {
            csrf: None,
            title: r.title.clone(),
            purpose: r.purpose.clone(),
            public_interest: r.public_interest.clone(),
            period_start: r.period_start.clone(),
            period_end: r.period_end.clone(),
            duration_months: r.duration_months.to_string(),
            cols: r
                .scope
                .iter()
                .flat_map(|s| {
                    s.columns
                        .iter()
                        .map(move |c| format!("{}|{}|{c}", s.dataset_id, s.table))
                })
                .collect(),
            route: r.route.clone(),
            summary_public: d.summary_public.clone(),
            organisation: d.organisation.clone(),
            population: d.population.clone(),
            linkage: d.linkage.clone(),
            methodology: d.methodology.clone(),
            expected_results: d.expected_results.clone(),
            funding: d.funding.clone(),
            conflicts_of_interest: d.conflicts_of_interest.clone(),
            changes: String::new(),
            team_name: d.team.iter().map(|m| m.name.clone()).collect(),
            team_role: d.team.iter().map(|m| m.role.clone()).collect(),
            team_org: d.team.iter().map(|m| m.organisation.clone()).collect(),
            team_user: d
                .team
                .iter()
                .map(|m| m.username.clone().unwrap_or_default())
                .collect(),
            crit_table: d
                .criteria
                .iter()
                .map(|c| format!("{}|{}", c.dataset, c.table))
                .collect(),
            crit_column: d.criteria.iter().map(|c| c.column.clone()).collect(),
            crit_codes: d.criteria.iter().map(|c| c.codes.join(", ")).collect(),
            crit_from: d
                .criteria
                .iter()
                .map(|c| c.from.map(|d| d.to_string()).unwrap_or_default())
                .collect(),
            crit_to: d
                .criteria
                .iter()
                .map(|c| c.to.map(|d| d.to_string()).unwrap_or_default())
                .collect(),
            crit_min: d.criteria.iter().map(|c| c.min_rows.to_string()).collect(),
            crit_mode: d
                .criteria
                .iter()
                .map(|c| if c.exclude { "exclude" } else { "include" }.to_string())
                .collect(),
        }
    }
}

/// The criteria rows of the form: those filled in plus empty ones.
fn criteria_rows(f: &RequestForm) -> Vec<Value> {
    let at = |v: &Vec<String>, i: usize| v.get(i).cloned().unwrap_or_default();
    let mut rows: Vec<Value> = (0..f.crit_table.len())
        .filter(|&i| !at(&f.crit_table, i).trim().is_empty())
        .map(|i| {
            context! { table => at(&f.crit_table, i), column => at(&f.crit_column, i), codes => at(&f.crit_codes, i), from => at(&f.crit_from, i), to => at(&f.crit_to, i), min => at(&f.crit_min, i), mode => at(&f.crit_mode, i) }
        })
        .collect();
    for _ in 0..1.max(3usize.saturating_sub(rows.len())) {
        rows.push(context! { table => "", column => "", codes => "", from => "", to => "", min => "1", mode => "include" });
    }
    rows
}

/// The team rows of the form: those filled in plus empty ones to add more.
fn team_rows(f: &RequestForm) -> Vec<Value> {
    let at = |v: &Vec<String>, i: usize| v.get(i).cloned().unwrap_or_default();
    let mut rows: Vec<Value> = (0..f.team_name.len())
        .filter(|i| !at(&f.team_name, *i).trim().is_empty() || !at(&f.team_role, *i).trim().is_empty())
        .map(|i| {
            context! { name => at(&f.team_name, i), role => at(&f.team_role, i), organisation => at(&f.team_org, i), username => at(&f.team_user, i) }
        })
        .collect();
    for _ in 0..2.max(4usize.saturating_sub(rows.len())) {
        rows.push(context! { name => "", role => "", organisation => "", username => "" });
    }
    rows
}

fn field_errors(e: &AppError) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if let Some(a) = e
        .details
        .as_ref()
        .and_then(|d| d.get("fields"))
        .and_then(|f| f.as_array())
    {
        for x in a {
            let f = x["field"].as_str().unwrap_or("").to_string();
            let m = x["message"].as_str().unwrap_or("").to_string();
            out.entry(f)
                .and_modify(|v: &mut String| {
                    v.push(' ');
                    v.push_str(&m);
                })
                .or_insert(m);
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
async fn render_form(
    st: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    q: &LangQ,
    c: Caller,
    form: &RequestForm,
    errors: std::collections::BTreeMap<String, String>,
    edit_id: Option<&str>,
    amends: Option<&str>,
) -> PageResult {
    let catalogue = pickable(st).await?;
    Ctx::new(headers, jar, q, Some(c)).render(
        st,
        "request_new.html",
        context! { catalogue => catalogue, form => form, team => team_rows(form), criteria => criteria_rows(form), errors => errors, routes => st.config.routes.iter().map(|r| context! { name => r.name.clone() }).collect::<Vec<_>>(), edit_id => edit_id, amends => amends },
    )
}

async fn new_request_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let form = RequestForm {
        duration_months: "24".into(),
        period_start: "2021-01-01".into(),
        period_end: "2023-12-31".into(),
        route: "standard".into(),
        ..Default::default()
    };
    render_form(
        &st,
        &headers,
        jar,
        &q,
        c,
        &form,
        Default::default(),
        None,
        None,
    )
    .await
}

async fn new_request(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    PageCaller(c): PageCaller,
    Form(f): Form<RequestForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    match service::create_request(&st, &c, f.input()).await {
        Ok(r) => Ok(Redirect::to(&format!("/requests/{}", r.id)).into_response()),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let errs = field_errors(&e);
            let mut r = render_form(
                &st,
                &headers,
                jar,
                &LangQ::default(),
                c,
                &f,
                errs,
                None,
                None,
            )
            .await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

async fn edit_request_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let (r, _) = service::view_request(&st, &c, &id).await?;
    let problems = service::submission_problems(&st, &r).await?;
    let errs = field_errors(&service::invalid_fields(problems));
    render_form(
        &st,
        &headers,
        jar,
        &q,
        c,
        &RequestForm::of(&r),
        errs,
        Some(&id),
        None,
    )
    .await
}

/// Saves a draft from the form: the autosave (`X-Autosave: 1`, answered with
/// the problems as JSON) or the Save button (back to the request's page).
async fn edit_request(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<RequestForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    let (_, problems) = service::save_draft(&st, &c, &id, f.input()).await?;
    if headers.contains_key("x-autosave") {
        let p: Vec<serde_json::Value> = problems
            .iter()
            .map(|(f, m)| serde_json::json!({ "field": f, "message": m }))
            .collect();
        return Ok(axum::Json(serde_json::json!({ "problems": p })).into_response());
    }
    if problems.is_empty() {
        return Ok(Redirect::to(&format!("/requests/{id}")).into_response());
    }
    let errs = field_errors(&service::invalid_fields(problems));
    render_form(
        &st,
        &headers,
        jar,
        &LangQ::default(),
        c,
        &f,
        errs,
        Some(&id),
        None,
    )
    .await
}

async fn amend_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let (r, _) = service::view_request(&st, &c, &id).await?;
    let mut form = RequestForm::of(&r);
    form.title = format!("{} (amendment)", r.title);
    render_form(
        &st,
        &headers,
        jar,
        &q,
        c,
        &form,
        Default::default(),
        None,
        Some(&id),
    )
    .await
}

async fn amend(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<RequestForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    let (parent, _) = service::view_request(&st, &c, &id).await?;
    match service::create_request_for(&st, &c, f.input(), Some(&parent)).await {
        Ok(r) => Ok(Redirect::to(&format!("/requests/{}", r.id)).into_response()),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let errs = field_errors(&e);
            let mut r = render_form(
                &st,
                &headers,
                jar,
                &LangQ::default(),
                c,
                &f,
                errs,
                None,
                Some(&id),
            )
            .await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

/// The actions the caller may take on a request in its current state.
async fn actions_for(
    st: &AppState,
    c: &Caller,
    r: &hdh_store::AccessRequest,
) -> Result<Vec<&'static str>, AppError> {
    use hdh_model::request::{Context, Opinion};
    let is_applicant = r.applicant_id == c.user.id;
    let route = crate::desk::route_of(st, r);
    let pending = crate::desk::pending_agreements(st, r).await?;
    let mut out = Vec::new();
    let x = || "x".to_string();
    let candidates = [
        ("submit", RequestAction::Submit),
        ("approve", RequestAction::Approve),
        (
            "opinion",
            RequestAction::Opinion {
                opinion: Opinion::Favourable,
                motivation: x(),
            },
        ),
        ("authorise", RequestAction::Authorise { reference: x() }),
        ("agree", RequestAction::Agree { dataset: x() }),
        ("send_back", RequestAction::SendBack { reason: x() }),
        (
            "refuse",
            RequestAction::Refuse {
                reason: x(),
                reference: Some(x()),
            },
        ),
        ("withdraw", RequestAction::Withdraw),
        ("close", RequestAction::Close { results: x() }),
        ("archive", RequestAction::Archive),
    ];
    // Offered when the state machine would accept it under one of the
    // caller's roles, and the desk's own conditions hold.
    for (name, a) in candidates {
        let ok = c.user.roles.iter().any(|role| {
            let mut ctx = Context::new(*role, is_applicant, &route);
            ctx.pending_agreements = pending.len();
            ctx.is_amendment = r.amends.is_some();
            r.state.apply(&a, &ctx).is_ok()
        });
        if !ok {
            continue;
        }
        let extra = match name {
            "opinion" => crate::desk::reviewer_clearance(st, c, r).await?.is_none(),
            "agree" => pending.iter().any(|d| crate::desk::is_producer_of(c, d)),
            "refuse" if r.state == AccessRequestState::ProducerAgreement => {
                pending.iter().any(|d| crate::desk::is_producer_of(c, d))
            }
            _ => true,
        };
        if extra {
            out.push(name);
        }
    }
    Ok(out)
}

async fn request(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let (r, history) = match service::view_request(&st, &c, &id).await {
        Ok(x) => x,
        Err(e) if e.status == StatusCode::FORBIDDEN => {
            // An assigned reviewer who has not declared their interests sees
            // what the public registry shows, and the declaration form.
            let assigned = st
                .store
                .reviewers(&id)
                .await
                .map_err(AppError::from)?
                .into_iter()
                .find(|x| x.user_id == c.user.id && x.declaration.is_none());
            let Some(_) = assigned else {
                return Err(e.into());
            };
            let entry = crate::registry::entry(&st, &id).await?;
            return Ctx::new(&headers, jar, &q, Some(c)).render(
                &st,
                "request_declare.html",
                context! { id => id, entry => entry },
            );
        }
        Err(e) => return Err(e.into()),
    };
    let applicant = st
        .store
        .user(&r.applicant_id)
        .await
        .map_err(AppError::from)?;
    let actions = actions_for(&st, &c, &r).await?;
    let step = match r.state {
        AccessRequestState::Draft | AccessRequestState::SentBack => 0,
        AccessRequestState::Submitted => 1,
        AccessRequestState::EthicsReview => 2,
        AccessRequestState::AuthorityReview => 3,
        AccessRequestState::ProducerAgreement => 4,
        AccessRequestState::Authorised => 5,
        _ => 6,
    };
    let full = crate::api::request_json(&st, &r, history).await?;
    let pending = crate::desk::pending_agreements(&st, &r).await?;
    let mine_to_agree: Vec<String> = pending
        .iter()
        .filter(|d| crate::desk::is_producer_of(&c, d))
        .map(|d| d.id.clone())
        .collect();
    let is_applicant = r.applicant_id == c.user.id;
    let can_edit = is_applicant && r.state.is_editable();
    let can_assign = c.has(Role::Secretariat)
        && !is_applicant
        && matches!(
            r.state,
            AccessRequestState::Submitted | AccessRequestState::EthicsReview
        );
    let committee: Vec<String> = if can_assign {
        st.store
            .users_with_role(Role::Committee)
            .await
            .map_err(AppError::from)?
            .into_iter()
            .filter(|u| u.id != r.applicant_id)
            .map(|u| u.username)
            .collect()
    } else {
        vec![]
    };
    let amendments: Vec<hdh_store::AccessRequest> = st
        .store
        .requests()
        .await
        .map_err(AppError::from)?
        .into_iter()
        .filter(|x| x.amends.as_deref() == Some(id.as_str()))
        .collect();
    let opinions: Vec<&str> = hdh_model::request::Opinion::ALL
        .iter()
        .map(|o| o.as_str())
        .collect();
    Ctx::new(&headers, jar, &q, Some(c)).render(&st, "request.html", context! {
        r => r, full => full, applicant => applicant.map(|u| u.display_name), actions => actions,
        confirm_actions => CONFIRMED_ACTIONS,
        step => step, mine_to_agree => mine_to_agree, can_edit => can_edit, can_assign => can_assign,
        committee => committee, amendments => amendments, opinions => opinions,
        can_amend => is_applicant && r.state == AccessRequestState::Active && r.amends.is_none(),
    })
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: Option<String>,
    action: String,
    confirm: Option<String>,
    reason: Option<String>,
    opinion: Option<String>,
    reference: Option<String>,
    dataset: Option<String>,
    results: Option<String>,
}

async fn request_action(
    State(st): State<AppState>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<ActionForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    if CONFIRMED_ACTIONS.contains(&f.action.as_str()) {
        confirmed(f.confirm.as_deref())?;
    }
    let action = RequestAction::parse(
        &f.action,
        hdh_model::request::ActionFields {
            reason: f.reason,
            opinion: f.opinion,
            reference: f.reference,
            dataset: f.dataset,
            results: f.results,
        },
    )
    .map_err(AppError::from)?;
    service::act_on_request(&st, &c, &id, action).await?;
    Ok(Redirect::to(&format!("/requests/{id}")).into_response())
}

async fn request_attach(
    State(st): State<AppState>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    mp: Multipart,
) -> PageResult {
    let (kind, name, bytes, csrf) = crate::desk_api::read_attachment_form(&st, mp).await?;
    c.check_csrf(csrf.as_deref())?;
    crate::desk_api::attach(&st, &c, &id, kind, name, bytes).await?;
    Ok(Redirect::to(&format!("/requests/{id}#attachments")).into_response())
}

#[derive(Deserialize, Default)]
struct CsrfQ {
    csrf: Option<String>,
}

#[derive(Deserialize)]
struct AssignForm {
    csrf: Option<String>,
    username: String,
}

async fn request_assign(
    State(st): State<AppState>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<AssignForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    crate::desk::assign_reviewer(&st, &c, &id, f.username.trim()).await?;
    Ok(Redirect::to(&format!("/requests/{id}#reviewers")).into_response())
}

#[derive(Deserialize)]
struct InterestsForm {
    csrf: Option<String>,
    declaration: String,
    note: Option<String>,
}

async fn request_interests(
    State(st): State<AppState>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<InterestsForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    let conflict = f.declaration == "conflict";
    crate::desk::declare_interests(&st, &c, &id, conflict, f.note).await?;
    Ok(Redirect::to(
        if conflict {
            "/requests".to_string()
        } else {
            format!("/requests/{id}")
        }
        .as_str(),
    )
    .into_response())
}

#[derive(Deserialize)]
struct CommentForm {
    csrf: Option<String>,
    body: String,
}

async fn request_comment(
    State(st): State<AppState>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<CommentForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    crate::desk::comment(&st, &c, &id, &f.body).await?;
    Ok(Redirect::to(&format!("/requests/{id}#comments")).into_response())
}

/// One project of the public registry (no sign-in).
async fn registry_project(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    Path(id): Path<String>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    let entry = crate::registry::entry(&st, &id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("project {id} in the registry")))?;
    let amendments: Vec<crate::registry::RegistryEntry> =
        crate::registry::entries(&st, &Default::default())
            .await?
            .into_iter()
            .filter(|e| e.amends.as_deref() == Some(id.as_str()))
            .collect();
    Ctx::new(&headers, jar, &q, c).render(
        &st,
        "registry_project.html",
        context! { p => entry, amendments => amendments },
    )
}

async fn inbox(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let notes = st
        .store
        .notifications(&c.user.id)
        .await
        .map_err(AppError::from)?;
    Ctx::new(&headers, jar, &q, Some(c)).render(&st, "inbox.html", context! { notes => notes })
}

async fn inbox_read(
    State(st): State<AppState>,
    PageCaller(c): PageCaller,
    Form(f): Form<CsrfQ>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    st.store
        .mark_read(&c.user.id, None)
        .await
        .map_err(AppError::from)?;
    Ok(Redirect::to("/inbox").into_response())
}

const PAGE_SIZE: usize = 50;

async fn render_project(st: &AppState, ctx: Ctx, id: &str, extra: Value) -> PageResult {
    let c = ctx.caller()?.clone();
    let (p, tables) = service::view_project(st, &c, id).await?;
    let releases = st
        .store
        .releases_of_project(id)
        .await
        .map_err(AppError::from)?;
    let request = st
        .store
        .request(&p.request_id)
        .await
        .map_err(AppError::from)?;
    let extraction = crate::workspace_api::extraction_json(st, &p).await?;
    let building = extraction["jobs"].as_array().is_some_and(|j| {
        j.iter()
            .any(|j| j["state"] == "queued" || j["state"] == "running")
    });
    let schema = crate::workspace_api::schema_json(st, id, &tables).await?;
    // Completion hints for the editor: table → columns.
    let mut hints = serde_json::Map::new();
    for t in schema["tables"].as_array().into_iter().flatten() {
        let cols: Vec<serde_json::Value> = t["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["name"].clone())
            .collect();
        if let Some(name) = t["table"].as_str() {
            hints.insert(name.to_string(), serde_json::Value::Array(cols));
        }
    }
    let history = st
        .store
        .queries(id, Some(&c.user.id), 20)
        .await
        .map_err(AppError::from)?;
    let tokens = st
        .store
        .tokens_of(&c.user.id, id)
        .await
        .map_err(AppError::from)?;
    ctx.render(
        st,
        "project.html",
        context! {
            p => p, tables => tables, releases => releases, request => request,
            extraction => extraction, building => building, schema => schema,
            hints_json => script_json(&serde_json::Value::Object(hints)), history => history, tokens => tokens,
            flight_uri => st.config.flight_uri.clone(),
            ..extra
        },
    )
}

/// JSON to embed in a `<script type="application/json">`: `<`, `>` and `&`
/// escaped so that the data cannot close the element.
fn script_json(v: &serde_json::Value) -> String {
    serde_json::to_string(v)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[derive(Deserialize)]
struct ProjectQ {
    lang: Option<String>,
    /// A past query of the caller's, loaded into the editor.
    q: Option<String>,
}

async fn project(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<ProjectQ>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let past = match &q.q {
        Some(qid) => st
            .store
            .queries(&id, Some(&c.user.id), 200)
            .await
            .map_err(AppError::from)?
            .into_iter()
            .find(|x| &x.id == qid)
            .map(|x| x.sql),
        None => None,
    };
    let ctx = Ctx::new(&headers, jar, &LangQ { lang: q.lang }, Some(c));
    render_project(&st, ctx, &id, context! { sql => past }).await
}

async fn project_refresh(
    State(st): State<AppState>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    crate::provisioning::refresh(&st, &c, &id).await?;
    Ok(Redirect::to(&format!("/projects/{id}")).into_response())
}

#[derive(Deserialize)]
struct TokenForm {
    csrf: Option<String>,
    label: String,
    days: Option<i64>,
}

async fn project_token(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<TokenForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    let (_, secret) = crate::tokens::create(&st, &c, &id, &f.label, f.days).await?;
    let ctx = Ctx::new(&headers, jar, &LangQ::default(), Some(c));
    render_project(&st, ctx, &id, context! { new_secret => secret }).await
}

async fn project_token_revoke(
    State(st): State<AppState>,
    Path((id, tid)): Path<(String, String)>,
    PageCaller(c): PageCaller,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    confirmed(f.confirm.as_deref())?;
    crate::tokens::revoke(&st, &c, &id, &tid).await?;
    Ok(Redirect::to(&format!("/projects/{id}")).into_response())
}

async fn project_query_cancel(
    State(st): State<AppState>,
    Path((id, qid)): Path<(String, String)>,
    PageCaller(c): PageCaller,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    let done = crate::sandbox::cancel(&st, &c, &id, &qid).await?;
    Ok(if done {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    })
}

#[derive(Deserialize)]
struct QueryForm {
    csrf: Option<String>,
    sql: String,
    page: Option<usize>,
    query_id: Option<String>,
    chart: Option<String>,
}

async fn project_query(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<QueryForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    let res = service::query(
        &st,
        &c,
        &id,
        &f.sql,
        crate::sandbox::Channel::Web,
        f.query_id.clone().filter(|q| !q.is_empty()),
    )
    .await;
    let ctx = Ctx::new(&headers, jar, &LangQ::default(), Some(c));
    match res {
        Ok(out) => {
            let stats = serde_json::json!({
                "duration_ms": out.duration_ms,
                "rows_scanned": out.stats.rows_scanned,
            });
            let res: hdh_workspace::QueryResult =
                serde_json::from_value(crate::sandbox::output_json(&out)["result"].clone())
                    .map_err(|e| AppError::internal(e.to_string()))?;
            let chart_kind = f
                .chart
                .as_deref()
                .and_then(hdh_catalog::plot::PlotKind::parse);
            let chart_svg = chart_kind.and_then(|k| result_chart(k, &res));
            let pages = res.rows.len().div_ceil(PAGE_SIZE).max(1);
            let page = f.page.unwrap_or(1).clamp(1, pages);
            let rows: Vec<_> = res
                .rows
                .iter()
                .skip((page - 1) * PAGE_SIZE)
                .take(PAGE_SIZE)
                .cloned()
                .collect();
            render_project(&st, ctx, &id, context! { sql => f.sql, result => context! { columns => res.columns, rows => rows, total => res.rows.len(), truncated => res.truncated }, page => page, pages => pages, query_stats => stats, chart_kind => f.chart, chart_svg => chart_svg }).await
        }
        Err(e)
            if e.status == StatusCode::FORBIDDEN
                && (e.code == "out_of_scope" || e.code == "not_allowed")
                || e.status == StatusCode::UNPROCESSABLE_ENTITY
                || e.status == StatusCode::TOO_MANY_REQUESTS
                || e.status == StatusCode::CONFLICT =>
        {
            let status = e.status;
            let mut r = render_project(
                &st,
                ctx,
                &id,
                context! { sql => f.sql, query_error => e.message },
            )
            .await?;
            *r.status_mut() = status;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

/// A result drawn: labels from the first column, values from the last
/// numeric one.
fn result_chart(
    kind: hdh_catalog::plot::PlotKind,
    res: &hdh_workspace::QueryResult,
) -> Option<String> {
    if res.columns.len() < 2 {
        return None;
    }
    let value_col = (1..res.columns.len()).rev().find(|&i| {
        res.rows
            .iter()
            .all(|r| r[i].as_deref().is_none_or(|v| v.parse::<f64>().is_ok()))
    })?;
    let points: Vec<(String, f64)> = res
        .rows
        .iter()
        .filter_map(|r| {
            let v = r[value_col].as_deref()?.parse::<f64>().ok()?;
            Some((r[0].clone().unwrap_or_default(), v))
        })
        .collect();
    hdh_catalog::plot::result_svg(
        kind,
        &points,
        &format!("{} / {}", res.columns[value_col], res.columns[0]),
    )
}

#[derive(Deserialize, Default)]
struct ReleaseForm {
    csrf: Option<String>,
    description: String,
    /// A first table, from the console: its microdata query and layout.
    #[serde(default)]
    sql: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    table_description: String,
    #[serde(default)]
    rows: String,
    #[serde(default)]
    cols: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    agg: String,
    #[serde(default)]
    totals: Option<String>,
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// A table file from a form's fields (lists comma-separated; count by default).
#[derive(Default)]
struct TableFields<'a> {
    name: &'a str,
    description: &'a str,
    sql: &'a str,
    rows: &'a str,
    cols: &'a str,
    value: &'a str,
    agg: &'a str,
    totals: bool,
    person: &'a str,
}

impl TableFields<'_> {
    fn input(&self) -> crate::output::FileInput {
        let some = |s: &str| Some(s.trim().to_string()).filter(|v| !v.is_empty());
        crate::output::FileInput::Table {
            name: self.name.trim().to_string(),
            description: self.description.trim().to_string(),
            table: crate::output::TableInput {
                sql: self.sql.to_string(),
                rows: split_list(self.rows),
                cols: split_list(self.cols),
                value: some(self.value),
                agg: some(self.agg).unwrap_or_else(|| "count".to_string()),
                totals: self.totals,
                person: some(self.person),
            },
        }
    }
}

fn table_from_form(f: &ReleaseForm) -> crate::output::FileInput {
    TableFields {
        name: &f.name,
        description: &f.table_description,
        sql: &f.sql,
        rows: &f.rows,
        cols: &f.cols,
        value: &f.value,
        agg: &f.agg,
        totals: f.totals.is_some(),
        person: "",
    }
    .input()
}

/// The project page's "ask to release": a draft release, with the console's
/// query as its first table when one is given.
async fn project_release(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<ReleaseForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    let created = crate::output::create(&st, &c, &id, &f.description).await;
    let r = match created {
        Ok(r) => r,
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let ctx = Ctx::new(&headers, jar, &LangQ::default(), Some(c));
            let mut r = render_project(
                &st,
                ctx,
                &id,
                context! { sql => f.sql, release_error => e.message },
            )
            .await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(r);
        }
        Err(e) => return Err(e.into()),
    };
    if !f.sql.trim().is_empty()
        && let Err(e) = crate::output::add_file(&st, &c, &r.id, table_from_form(&f)).await
    {
        if e.status == StatusCode::FORBIDDEN {
            return Err(e.into());
        }
        let ctx = Ctx::new(&headers, jar, &LangQ::default(), Some(c));
        return render_release(
            &st,
            ctx,
            &r.id,
            context! { form_error => e.message },
            e.status,
        )
        .await;
    }
    Ok(Redirect::to(&format!("/releases/{}", r.id)).into_response())
}

async fn releases(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let all = crate::output::queue(&st, &c).await?;
    Ctx::new(&headers, jar, &q, Some(c)).render(&st, "releases.html", context! { releases => all })
}

/// A table file's cells as a grid for the page: its column labels, and per
/// row label the cells in that order (a missing one is None).
fn grid(check: &serde_json::Value) -> serde_json::Value {
    let cells = check["cells"].as_array().cloned().unwrap_or_default();
    let mut cols: Vec<String> = Vec::new();
    let mut rows: Vec<String> = Vec::new();
    for c in &cells {
        let (r, k) = (
            c["row"].as_str().unwrap_or_default().to_string(),
            c["col"].as_str().unwrap_or_default().to_string(),
        );
        if !rows.contains(&r) {
            rows.push(r);
        }
        if !cols.contains(&k) {
            cols.push(k);
        }
    }
    let lines: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let line: Vec<serde_json::Value> = cols
                .iter()
                .map(|k| {
                    cells
                        .iter()
                        .find(|c| c["row"] == r.as_str() && c["col"] == k.as_str())
                        .cloned()
                        .unwrap_or(serde_json::Value::Null)
                })
                .collect();
            serde_json::json!({ "label": r, "cells": line })
        })
        .collect();
    serde_json::json!({ "cols": cols, "rows": lines })
}

async fn render_release(
    st: &AppState,
    ctx: Ctx,
    id: &str,
    extra: Value,
    status: StatusCode,
) -> PageResult {
    let c = ctx.caller()?.clone();
    let v = crate::output::view(st, &c, id).await?;
    let grids: std::collections::BTreeMap<String, serde_json::Value> = v
        .files
        .iter()
        .filter(|f| f.kind == hdh_model::release::FileKind::Table)
        .map(|f| (f.id.clone(), grid(&f.check)))
        .collect();
    let tables: Vec<&str> = v
        .files
        .iter()
        .filter(|f| f.kind == hdh_model::release::FileKind::Table)
        .map(|f| f.id.as_str())
        .collect();
    let mine: std::collections::BTreeMap<String, serde_json::Value> = v
        .reviews
        .iter()
        .filter(|r| r.review.checker_id == c.user.id)
        .map(|r| (r.review.file_id.clone(), serde_json::json!(r.review)))
        .collect();
    let mut names = std::collections::BTreeMap::new();
    for r in &v.reviews {
        if let Some(u) = st
            .store
            .user(&r.review.checker_id)
            .await
            .map_err(AppError::from)?
        {
            names.insert(r.review.checker_id.clone(), u.display_name);
        }
    }
    let mut resp = ctx.render(
        st,
        "release.html",
        context! { ..context! { v => v, grids => grids, tables => tables, mine => mine, checkers => names }, ..extra },
    )?;
    *resp.status_mut() = status;
    Ok(resp)
}

async fn release(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
) -> PageResult {
    render_release(
        &st,
        Ctx::new(&headers, jar, &q, Some(c)),
        &id,
        context! {},
        StatusCode::OK,
    )
    .await
}

/// Runs a release action from a form; a refusal that the author can fix
/// (422, 409) is shown on the release's page, next to the forms.
async fn release_form_result<T>(
    st: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    c: Caller,
    id: &str,
    result: Result<T, AppError>,
    anchor: &str,
) -> PageResult {
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/releases/{id}{anchor}")).into_response()),
        Err(e)
            if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::CONFLICT =>
        {
            let ctx = Ctx::new(headers, jar, &LangQ::default(), Some(c));
            render_release(st, ctx, id, context! { form_error => e.message }, e.status).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
struct FileForm {
    csrf: Option<String>,
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    sql: String,
    #[serde(default)]
    rows: String,
    #[serde(default)]
    cols: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    agg: String,
    #[serde(default)]
    totals: Option<String>,
    #[serde(default)]
    person: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    coefficients: String,
}

async fn release_add_file(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<FileForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    let input = match f.kind.as_str() {
        "table" => TableFields {
            name: &f.name,
            description: &f.description,
            sql: &f.sql,
            rows: &f.rows,
            cols: &f.cols,
            value: &f.value,
            agg: &f.agg,
            totals: f.totals.is_some(),
            person: &f.person,
        }
        .input(),
        "model" => crate::output::FileInput::Model {
            name: f.name.trim().to_string(),
            description: f.description.clone(),
            sql: f.sql.clone(),
            coefficients: f.coefficients.clone(),
        },
        "text" => crate::output::FileInput::Text {
            name: f.name.trim().to_string(),
            description: f.description.clone(),
            content: f.content.clone(),
        },
        other => {
            return Err(AppError::unprocessable(format!(
                "kind {other:?}: a table, a model or text (figures are uploaded)"
            ))
            .into());
        }
    };
    let res = crate::output::add_file(&st, &c, &id, input).await;
    release_form_result(&st, &headers, jar, c, &id, res, "#files").await
}

async fn release_add_figure(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    mut mp: Multipart,
) -> PageResult {
    use base64::Engine;
    let mut fields = std::collections::HashMap::new();
    let mut bytes = Vec::new();
    let bad = |e: axum::extract::multipart::MultipartError| {
        PageError(AppError::bad_request(format!("form: {e}")))
    };
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            bytes = field.bytes().await.map_err(bad)?.to_vec();
        } else {
            fields.insert(name, field.text().await.map_err(bad)?);
        }
    }
    c.check_csrf(fields.get("csrf").map(String::as_str))?;
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let input = crate::output::FileInput::Figure {
        name: get("name").trim().to_string(),
        description: get("description"),
        table: get("table"),
        content_base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
    };
    let res = crate::output::add_file(&st, &c, &id, input).await;
    release_form_result(&st, &headers, jar, c, &id, res, "#files").await
}

async fn release_remove_file(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path((id, file)): Path<(String, String)>,
    PageCaller(c): PageCaller,
    Form(f): Form<CsrfQ>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    let res = crate::output::remove_file(&st, &c, &id, &file).await;
    release_form_result(&st, &headers, jar, c, &id, res, "#files").await
}

/// A checker's review: `decision.<file>` = approve | return, `comment.<file>`.
async fn release_review(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    let csrf = f.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str());
    c.check_csrf(csrf)?;
    let decisions: Vec<crate::output::FileDecisionInput> = f
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("decision.")
                .map(|file| crate::output::FileDecisionInput {
                    file: file.to_string(),
                    decision: v.clone(),
                    comment: f
                        .iter()
                        .find(|(k2, _)| k2.strip_prefix("comment.") == Some(file))
                        .map(|(_, c)| c.clone())
                        .unwrap_or_default(),
                })
        })
        .collect();
    let res = crate::output::review(&st, &c, &id, &decisions).await;
    release_form_result(&st, &headers, jar, c, &id, res, "").await
}

#[derive(Deserialize)]
struct StepForm {
    csrf: Option<String>,
    /// Required to reject.
    #[serde(default)]
    reason: String,
    confirm: Option<String>,
}

/// The steps a form takes with one button: the author's submit and
/// withdraw, a checker's release and reject (with a reason).
async fn release_step(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path((id, step)): Path<(String, String)>,
    PageCaller(c): PageCaller,
    Form(f): Form<StepForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    // Releasing, rejecting and withdrawing cannot be undone: their forms
    // carry a required "I confirm" box (its absence shown on the page).
    let res = match (step.as_str(), confirmed(f.confirm.as_deref())) {
        ("submit", _) => crate::output::submit(&st, &c, &id).await,
        ("release" | "reject" | "withdraw", Err(e)) => Err(e),
        ("release", Ok(())) => crate::output::release(&st, &c, &id).await,
        ("reject", Ok(())) => crate::output::reject(&st, &c, &id, &f.reason).await,
        ("withdraw", Ok(())) => crate::output::withdraw(&st, &c, &id).await,
        (other, _) => return Err(AppError::not_found(format!("/releases/{id}/{other}")).into()),
    };
    release_form_result(&st, &headers, jar, c, &id, res, "").await
}

async fn release_download(
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let (f, bytes) = crate::output::file(&st, &c, &id, &file, false).await?;
    Ok(crate::output::file_response(f, bytes, true))
}

async fn release_preview(
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let (f, bytes) = crate::output::file(&st, &c, &id, &file, true).await?;
    Ok(crate::output::file_response(f, bytes, false))
}

#[derive(Deserialize, Default)]
struct AuditQ {
    lang: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    project: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
}

#[derive(Deserialize, Default)]
struct AlertsQ {
    lang: Option<String>,
    state: Option<String>,
    severity: Option<String>,
}

/// The security officer's alerts, filtered by state and severity.
async fn alerts_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<AlertsQ>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let state = q.state.clone().filter(|s| !s.is_empty());
    let severity = q.severity.clone().filter(|s| !s.is_empty());
    let all = crate::alerts::list(&st, &c, state.as_deref(), severity.as_deref()).await?;
    // The alerts listed, per day over the last 30 days: drawn, and as a table.
    let lang = lang_of(&headers, &jar, q.lang.as_deref());
    let days = crate::alerts::per_day(&all, chrono::Utc::now().date_naive(), 30);
    let bars: Vec<hdh_catalog::stats::Bar> = days
        .iter()
        .map(|(d, n)| hdh_catalog::stats::Bar {
            label: d.get(5..).unwrap_or(d).to_string(),
            count: Some(n.iter().sum()),
        })
        .collect();
    let days_svg = hdh_catalog::chart::histogram_svg(&bars, &t(lang, "alerts.per_day"), "");
    let days: Vec<Value> = days
        .iter()
        .filter(|(_, n)| n.iter().sum::<u64>() > 0)
        .map(|(d, n)| context! { day => d, high => n[0], medium => n[1], low => n[2] })
        .collect();
    Ctx::new(
        &headers,
        jar,
        &LangQ {
            lang: q.lang.clone(),
        },
        Some(c),
    )
    .render(
        &st,
        "alerts.html",
        context! {
            alerts => all, f => context! { state => state, severity => severity },
            days_svg => days_svg, days => days,
        },
    )
}

#[derive(Deserialize)]
struct AlertForm {
    csrf: Option<String>,
    action: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    note: String,
    confirm: Option<String>,
}

async fn alert_action(
    State(st): State<AppState>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<AlertForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    if f.action == "close" {
        confirmed(f.confirm.as_deref())?;
    }
    crate::alerts::act(&st, &c, &id, &f.action, Some(&f.assignee), Some(&f.note)).await?;
    Ok(Redirect::to(&format!("/alerts#alert-{id}")).into_response())
}

async fn audit(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<AuditQ>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let filter = hdh_store::AuditFilter {
        actor: q.actor.clone(),
        action: q.action.clone(),
        project: q.project.clone(),
        outcome: q.outcome.clone(),
        since: q.since.clone(),
        until: None,
        limit: Some(1000),
    };
    let events = service::audit_trail(&st, &c, &filter).await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            let details = if e.details.is_null() {
                String::new()
            } else {
                e.details.to_string()
            };
            context! { e => e, details => details }
        })
        .collect();
    Ctx::new(&headers, jar, &LangQ { lang: q.lang.clone() }, Some(c)).render(&st, "audit.html", context! { events => events, f => context! { actor => q.actor, action => q.action, project => q.project, outcome => q.outcome, since => q.since } })
}

/// A delivery's ingestion: state, progress (the page refreshes itself while
/// the job runs; no script needed), report.
async fn ingestion_page(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    let ctx = Ctx::new(&headers, jar, &q, c);
    let caller = ctx.caller()?;
    let status = crate::ingestion::get_ingestion(&st, caller, &id).await?;
    let running = !matches!(status.state.as_str(), "published" | "rejected" | "failed");
    let percent = (status.progress.rows_done * 100)
        .checked_div(status.progress.rows_total)
        .unwrap_or(0)
        .min(100);
    let dataset_href = catalog::dataset_url(&status.dataset_id);
    ctx.render(
        &st,
        "ingestion.html",
        context! {
            i => status,
            running => running,
            percent => percent,
            dataset_href => dataset_href,
        },
    )
}

#[cfg(test)]
mod lang_tests {
    /// The CSP allows no inline style or script: no template may carry one
    /// (the browser walk also fails on any CSP report).
    #[test]
    fn no_template_has_inline_style_or_script() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for bad in [
                "<style",
                " style=",
                " onclick=",
                " onload=",
                " onsubmit=",
                " onchange=",
            ] {
                assert!(!text.contains(bad), "{}: {bad}", path.display());
            }
            for (i, _) in text.match_indices("<script") {
                assert!(
                    text[i..].starts_with("<script src=")
                        || text[i..].starts_with("<script type=\"application/json\""),
                    "{}: inline script",
                    path.display()
                );
            }
            n += 1;
        }
        assert!(n > 30);
    }

    #[test]
    fn language_links_keep_the_other_parameters() {
        assert_eq!(
            super::with_lang("/catalogue?q=diab%C3%A8te&lang=en", "fr"),
            "/catalogue?q=diab%C3%A8te&lang=fr"
        );
        assert_eq!(super::with_lang("/audit", "en"), "/audit?lang=en");
    }

    /// Every template file is one the pages can render (a page whose
    /// template was left out of `templates()` answered 500).
    #[test]
    fn every_template_is_registered() {
        let env = super::templates().unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut n = 0;
        for f in std::fs::read_dir(dir).unwrap() {
            let name = f.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".html") {
                assert!(env.get_template(&name).is_ok(), "{name} is not registered");
                n += 1;
            }
        }
        assert!(n > 20, "{n} templates");
    }

    /// Dates and instants as the reader writes them, the instant kept in
    /// `<time datetime>`; what is not a date passes unchanged (escaped).
    #[test]
    fn dates_in_the_readers_language() {
        let mut env = super::templates().unwrap();
        env.add_template(
            "t.html",
            "{{ a|datetime }}|{{ d|date }}|{{ x|date }}|{{ y|datetime }}",
        )
        .unwrap();
        let render = |lang: &str| {
            env.get_template("t.html")
                .unwrap()
                .render(minijinja::context! {
                    lang => lang, a => "2026-02-03T18:28:54.123456Z", d => "2022-08-01",
                    x => "<b>", y => "soon",
                })
                .unwrap()
        };
        assert_eq!(
            render("en"),
            "<time datetime=\"2026-02-03T18:28:54.123456Z\">3 Feb 2026, 18:28 UTC</time>|\
             <time datetime=\"2022-08-01\">1 Aug 2022</time>|&lt;b&gt;|soon"
        );
        assert_eq!(
            render("fr"),
            "<time datetime=\"2026-02-03T18:28:54.123456Z\">3 févr. 2026, 18:28 UTC</time>|\
             <time datetime=\"2022-08-01\">1 août 2022</time>|&lt;b&gt;|soon"
        );
    }
}

// ---------------------------------------------------------------- linkage

#[derive(Deserialize)]
struct LinkageForm {
    csrf: Option<String>,
    name: String,
    left: String,
    #[serde(default)]
    right: String,
    settings: String,
}

/// The link tables and the form to start a linkage (the hub's data team).
async fn linkage_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let jobs = crate::linkage::list(&st, &c).await?;
    let demo = crate::linkage::demo_input();
    let pretty =
        |v: &crate::linkage::LinkageSide| serde_json::to_string_pretty(v).unwrap_or_default();
    let form = context! {
        name => demo.name,
        left => pretty(&demo.left),
        right => demo.right.as_ref().map(pretty).unwrap_or_default(),
        settings => demo.settings,
    };
    Ctx::new(&headers, jar, &q, Some(c)).render(
        &st,
        "linkage.html",
        context! { jobs => jobs, form => form, errors => Value::UNDEFINED },
    )
}

async fn linkage_start(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    PageCaller(c): PageCaller,
    Form(f): Form<LinkageForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    let side = |key: &str, text: &str| -> Result<crate::linkage::LinkageSide, (String, String)> {
        serde_json::from_str(text).map_err(|e| {
            (
                key.to_string(),
                format!("line {}, column {}: {e}", e.line(), e.column()),
            )
        })
    };
    let parsed = side("left", &f.left).and_then(|left| {
        let right = if f.right.trim().is_empty() {
            None
        } else {
            Some(side("right", &f.right)?)
        };
        Ok(crate::linkage::LinkageInput {
            name: f.name.clone(),
            left,
            right,
            settings: f.settings.clone(),
        })
    });
    let errors = match parsed {
        Ok(input) => match crate::linkage::start(&st, &c, &input).await {
            Ok(job) => return Ok(Redirect::to(&format!("/linkage/{}", job.id)).into_response()),
            Err(e) => {
                let errors = field_errors(&e);
                if errors.is_empty() {
                    return Err(e.into());
                }
                errors
            }
        },
        Err(field) => [field].into_iter().collect(),
    };
    let jobs = crate::linkage::list(&st, &c).await?;
    let mut page = Ctx::new(&headers, jar, &q, Some(c)).render(
        &st,
        "linkage.html",
        context! { jobs => jobs, form => context! { name => f.name, left => f.left, right => f.right, settings => f.settings }, errors => errors },
    )?;
    *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(page)
}

/// A linkage job: progress while it runs, then its report, the model and
/// the clerical review.
async fn linkage_job_page(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let (job, labels, reviewed) = crate::linkage::get(&st, &c, &id).await?;
    let running = job.state == "queued" || job.state == "running";
    let report: Option<crate::linkage::LinkageReport> =
        serde_json::from_value(job.report.clone()).ok();
    let mut drawings = context! {};
    if let Some(r) = &report {
        let model: Option<hdh_linkage::model::Model> = model_from(&r.model);
        let mu = model
            .as_ref()
            .map(|m| hdh_linkage::draw::m_u(m, "m and u per comparison level"));
        let bars: Vec<hdh_catalog::stats::Bar> = r
            .quality
            .weights
            .iter()
            .map(|b| hdh_catalog::stats::Bar {
                label: format!("{:+.0}", b.from),
                count: Some(b.pairs),
            })
            .collect();
        let histogram =
            hdh_catalog::chart::histogram_svg(&bars, "Candidate pairs by match weight", "");
        let labelled: std::collections::HashMap<(String, String), String> = labels
            .iter()
            .map(|l| ((l.left_id.clone(), l.right_id.clone()), l.label.clone()))
            .collect();
        let review: Vec<Value> = r
            .review
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let terms: Vec<hdh_linkage::model::Term> = p
                    .terms
                    .iter()
                    .map(|t| hdh_linkage::model::Term {
                        comparison: t.comparison.clone(),
                        level: t.level.clone(),
                        weight: t.weight,
                        tf_adjusted: t.tf_adjusted,
                    })
                    .collect();
                context! {
                    n => k + 1,
                    p => p,
                    waterfall => hdh_linkage::draw::waterfall(&terms, &format!("Pair {}: match weight {:.2}", k + 1, p.weight)),
                    label => labelled.get(&(p.left_id.clone(), p.right_id.clone())).cloned(),
                }
            })
            .collect();
        drawings = context! { mu => mu, histogram => histogram, review => review };
    }
    Ctx::new(&headers, jar, &q, Some(c)).render(
        &st,
        "linkage_job.html",
        context! { job => job, report => report, running => running, reviewed => reviewed, d => drawings, labels_count => labels.len() },
    )
}

/// The model as the job stored it (the drawing needs its numbers only).
fn model_from(v: &serde_json::Value) -> Option<hdh_linkage::model::Model> {
    let comparisons = v["comparisons"]
        .as_array()?
        .iter()
        .map(|c| {
            let nums = |k: &str| -> Option<Vec<f64>> {
                c[k].as_array()?.iter().map(|x| x.as_f64()).collect()
            };
            Some(hdh_linkage::model::ComparisonParams {
                name: c["name"].as_str()?.to_string(),
                levels: c["levels"]
                    .as_array()?
                    .iter()
                    .map(|l| l.as_str().map(str::to_string))
                    .collect::<Option<_>>()?,
                m: nums("m")?,
                u: nums("u")?,
                tf_adjust: c["tf_adjust"].as_bool().unwrap_or(false),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(hdh_linkage::model::Model {
        lambda: v["lambda"].as_f64()?,
        comparisons,
        sessions: Vec::new(),
    })
}

#[derive(Deserialize)]
struct LabelForm {
    csrf: Option<String>,
    left_id: String,
    right_id: String,
    label: String,
    #[serde(default)]
    n: usize,
}

async fn linkage_label(
    State(st): State<AppState>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<LabelForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    crate::linkage::label(&st, &c, &id, &f.left_id, &f.right_id, &f.label).await?;
    Ok(Redirect::to(&format!("/linkage/{id}#pair-{}", f.n)).into_response())
}

async fn linkage_publish(
    State(st): State<AppState>,
    Path(id): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    confirmed(f.confirm.as_deref())?;
    crate::linkage::publish(&st, &c, &id).await?;
    Ok(Redirect::to(&format!("/linkage/{id}")).into_response())
}
