//! The terms of use: every account accepts the hub's current terms before
//! its first use, and again whenever they change. The version is a digest of
//! the text, so that editing the terms asks everyone again without anyone
//! having to remember to bump a number.
//!
//! Until then the account may read the terms, accept them, see who it is and
//! sign out; every other page sends it to `/terms`, every other API call
//! answers 403 `terms_not_accepted`, and its Flight SQL tokens are refused.

use crate::auth::{Caller, MaybeCaller};
use crate::i18n::Lang;
use crate::pages::{Ctx, LangQ, PageResult};
use crate::{AppError, AppState};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::{CookieJar, Form};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use utoipa::ToSchema;

/// The text of the terms (per language) and its version.
#[derive(Debug, Clone)]
pub struct Terms {
    /// The first 16 hexadecimal digits of the SHA-256 of the texts.
    pub version: String,
    en: String,
    fr: String,
}

impl Terms {
    /// The terms shipped with the hub (English and French).
    pub fn builtin() -> Terms {
        Terms::new(
            include_str!("../data/terms-of-use.en.md").to_string(),
            include_str!("../data/terms-of-use.fr.md").to_string(),
        )
    }

    fn new(en: String, fr: String) -> Terms {
        let mut h = Sha256::new();
        h.update(en.as_bytes());
        h.update([0u8]);
        h.update(fr.as_bytes());
        Terms {
            version: hex::encode(&h.finalize()[..8]),
            en,
            fr,
        }
    }

    /// The hub's own terms, read from a UTF-8 text file (paragraphs separated
    /// by blank lines, `#`/`##` headings, `- ` list items); `fr` is the French
    /// version when there is one, otherwise `text` serves both languages.
    pub fn from_files(text: &Path, fr: Option<&Path>) -> Result<Terms, AppError> {
        let read = |p: &Path| -> Result<String, AppError> {
            let bytes = std::fs::read(p)
                .map_err(|e| AppError::bad_request(format!("terms of use {}: {e}", p.display())))?;
            let s = String::from_utf8(bytes).map_err(|e| {
                AppError::bad_request(format!(
                    "terms of use {}: not UTF-8 text (byte {})",
                    p.display(),
                    e.utf8_error().valid_up_to()
                ))
            })?;
            if s.trim().is_empty() {
                return Err(AppError::bad_request(format!(
                    "terms of use {}: the file is empty",
                    p.display()
                )));
            }
            Ok(s)
        };
        let en = read(text)?;
        let fr = match fr {
            Some(p) => read(p)?,
            None => en.clone(),
        };
        Ok(Terms::new(en, fr))
    }

    pub fn text(&self, lang: Lang) -> &str {
        match lang {
            Lang::Fr => &self.fr,
            Lang::En => &self.en,
        }
    }

    /// Whether the user accepted this version.
    pub fn accepted_by(&self, user: &hdh_store::User) -> bool {
        user.terms_version.as_deref() == Some(self.version.as_str())
    }
}

/// A block of the terms as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Block {
    /// `h1`, `h2`, `p` or `ul`.
    pub kind: &'static str,
    pub text: String,
    pub items: Vec<String>,
}

/// Splits the text into headings, paragraphs and lists (nothing else is
/// interpreted: the page escapes every character).
pub fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    for para in text.replace("\r\n", "\n").split("\n\n") {
        let para = para.trim();
        if para.is_empty() {
            continue;
        }
        if let Some(h) = para.strip_prefix("## ") {
            out.push(block("h2", h));
        } else if let Some(h) = para.strip_prefix("# ") {
            out.push(block("h1", h));
        } else if para.starts_with("- ") {
            let mut items: Vec<String> = Vec::new();
            for line in para.lines() {
                let line = line.trim();
                match (line.strip_prefix("- "), items.last_mut()) {
                    (Some(item), _) => items.push(item.to_string()),
                    (None, Some(last)) => {
                        last.push(' ');
                        last.push_str(line);
                    }
                    (None, None) => items.push(line.to_string()),
                }
            }
            out.push(Block {
                kind: "ul",
                text: String::new(),
                items,
            });
        } else {
            out.push(block("p", para));
        }
    }
    out
}

fn block(kind: &'static str, text: &str) -> Block {
    Block {
        kind,
        text: text.split_whitespace().collect::<Vec<_>>().join(" "),
        items: Vec::new(),
    }
}

/// Paths an account that has not accepted the current terms may still use.
pub fn allowed_before_acceptance(path: &str) -> bool {
    matches!(
        path,
        "/terms" | "/logout" | "/api/terms" | "/api/me" | "/api/me/terms" | "/api/logout"
    )
}

/// The refusal of any other call.
pub fn not_accepted() -> AppError {
    AppError::new(
        axum::http::StatusCode::FORBIDDEN,
        "terms_not_accepted",
        "accept the terms of use first: read them at /terms (GET /api/terms), then accept \
         them there (POST /api/me/terms with their version)",
    )
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/terms", get(page).post(accept_page))
        .route("/api/terms", get(api_terms))
        .route("/api/me/terms", post(api_accept))
}

async fn accept(st: &AppState, c: &Caller, version: &str) -> Result<(), AppError> {
    let current = &st.config.terms.version;
    if version != current {
        return Err(AppError::new(
            axum::http::StatusCode::CONFLICT,
            "terms_changed",
            format!(
                "version: the terms of use are now version {current}, not {version:?}: read them again"
            ),
        ));
    }
    let mut tx = st.store.begin().await?;
    tx.accept_terms(&c.user.id, current).await?;
    let mut ev = c.event("auth.terms_accept", "user");
    ev.object_id = Some(c.user.id.clone());
    ev.details = json!({ "version": current, "previous": c.user.terms_version });
    tx.audit(&ev).await?;
    tx.commit().await?;
    Ok(())
}

async fn page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LangQ>,
    MaybeCaller(c): MaybeCaller,
) -> PageResult {
    let ctx = Ctx::new(&headers, jar, &q, c.clone());
    let terms = &st.config.terms;
    let text = blocks(terms.text(ctx.lang()));
    let accepted = c.as_ref().map(|c| terms.accepted_by(&c.user));
    ctx.render(
        &st,
        "terms.html",
        context! {
            blocks => text,
            version => terms.version.clone(),
            accepted => accepted,
            accepted_at => c.as_ref().and_then(|c| c.user.terms_accepted_at.clone()),
            previous => c.as_ref().and_then(|c| c.user.terms_version.clone()),
        },
    )
}

#[derive(Deserialize)]
struct AcceptForm {
    csrf: Option<String>,
    version: String,
    /// The "I have read and accept" box.
    accept: Option<String>,
}

async fn accept_page(
    State(st): State<AppState>,
    c: Caller,
    Form(f): Form<AcceptForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    if !matches!(f.accept.as_deref(), Some("yes" | "on")) {
        return Err(AppError::unprocessable(
            "accept: tick the box \"I have read and accept the terms of use\" to go on",
        )
        .into());
    }
    accept(&st, &c, &f.version).await?;
    Ok(Redirect::to("/").into_response())
}

/// The current terms of use (public).
#[utoipa::path(get, path = "/api/terms", params(("lang" = Option<String>, Query, description = "fr or en (default en)")), responses((status = 200, description = "the version and the text", body = Object)))]
pub(crate) async fn api_terms(State(st): State<AppState>, Query(q): Query<LangQ>) -> Json<Value> {
    let lang = q.lang.as_deref().and_then(Lang::parse).unwrap_or(Lang::En);
    let t = &st.config.terms;
    Json(json!({ "version": t.version, "lang": lang.code(), "text": t.text(lang) }))
}

#[derive(Deserialize, ToSchema)]
pub struct AcceptInput {
    /// The version read (from GET /api/terms).
    pub version: String,
}

/// Accepts the current terms of use (their version must be the one read).
#[utoipa::path(post, path = "/api/me/terms", request_body = AcceptInput, responses((status = 200, body = Object), (status = 409, description = "the terms changed since they were read", body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub async fn api_accept(
    State(st): State<AppState>,
    c: Caller,
    crate::api::ApiJson(i): crate::api::ApiJson<AcceptInput>,
) -> Result<Json<Value>, AppError> {
    accept(&st, &c, &i.version).await?;
    Ok(Json(json!({ "accepted": st.config.terms.version })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_follows_the_text() {
        let a = Terms::builtin();
        assert_eq!(a.version.len(), 16);
        assert_eq!(a.version, Terms::builtin().version);
        let b = Terms::new(a.en.clone() + "\nMore.", a.fr.clone());
        assert_ne!(a.version, b.version);
        let c = Terms::new(a.en.clone(), a.fr.clone() + " ");
        assert_ne!(a.version, c.version);
    }

    #[test]
    fn blocks_of_the_text() {
        let b =
            blocks("# Title\n\n## 1. Purpose\n\nOne\nparagraph.\n\n- first\n  item\n- second\n");
        assert_eq!(b.len(), 4);
        assert_eq!((b[0].kind, b[0].text.as_str()), ("h1", "Title"));
        assert_eq!((b[1].kind, b[1].text.as_str()), ("h2", "1. Purpose"));
        assert_eq!((b[2].kind, b[2].text.as_str()), ("p", "One paragraph."));
        assert_eq!(b[3].items, vec!["first item", "second"]);
        // The builtin texts have the same structure in both languages.
        let t = Terms::builtin();
        let kinds = |l| blocks(t.text(l)).iter().map(|b| b.kind).collect::<Vec<_>>();
        assert_eq!(kinds(Lang::En), kinds(Lang::Fr));
        assert!(kinds(Lang::En).iter().filter(|k| **k == "h2").count() >= 6);
    }

    #[test]
    fn own_terms_from_a_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("terms.md");
        std::fs::write(&p, "# Our terms\n\nBe good.\n").unwrap();
        let t = Terms::from_files(&p, None).unwrap();
        assert_eq!(t.text(Lang::Fr), t.text(Lang::En));
        assert_ne!(t.version, Terms::builtin().version);
        std::fs::write(&p, "  \n").unwrap();
        let e = Terms::from_files(&p, None).unwrap_err();
        assert!(
            e.message.contains("terms.md") && e.message.contains("empty"),
            "{e}"
        );
        std::fs::write(&p, [b'a', 0xff, b'b']).unwrap();
        let e = Terms::from_files(&p, None).unwrap_err();
        assert!(
            e.message.contains("not UTF-8") && e.message.contains("byte 1"),
            "{e}"
        );
        let e = Terms::from_files(&d.path().join("missing.md"), None).unwrap_err();
        assert!(e.message.contains("missing.md"), "{e}");
    }
}
