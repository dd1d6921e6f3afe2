//! A blocking client of the TTP's API, for producers' tools. Do not call it
//! from inside an async runtime (it blocks).

use std::time::Duration;

use hdh_pseudo::level1::Level1Pseudonym;
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::{MAX_ITEMS, TtpError, check_item};

/// Tries after the first one for a transient failure (connection, timeout,
/// 429, 5xx).
const RETRIES: u32 = 3;

/// Client of one TTP with one producer token (zeroised on drop, redacted in
/// `Debug`). Plain `http://` is allowed to loopback addresses only, unless
/// [`TtpClient::allow_plain_http`] says otherwise; use `https://`.
pub struct TtpClient {
    base: String,
    token: Zeroizing<String>,
    http: Result<Client, String>,
    retry_delay: Duration,
    allow_plain_http: bool,
}

impl std::fmt::Debug for TtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtpClient")
            .field("base", &self.base)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct KeyAnswer {
    key_id: String,
}

#[derive(Deserialize)]
struct PseudonymsAnswer {
    key_id: String,
    pseudonyms: Vec<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
}

impl TtpClient {
    pub fn new(base_url: &str, token: &str) -> Self {
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| e.to_string());
        TtpClient {
            base: base_url.trim_end_matches('/').to_string(),
            token: Zeroizing::new(token.to_string()),
            http,
            retry_delay: Duration::from_millis(500),
            allow_plain_http: false,
        }
    }

    /// Allows `http://` to a non-loopback host (e.g. a private link that is
    /// encrypted otherwise). Tokens and identifiers then travel in clear on
    /// that link.
    pub fn allow_plain_http(mut self) -> Self {
        self.allow_plain_http = true;
        self
    }

    /// The first wait before a retry (doubled each time; 500 ms by default).
    pub fn with_retry_delay(mut self, d: Duration) -> Self {
        self.retry_delay = d;
        self
    }

    fn url(&self, path: &str) -> Result<String, TtpError> {
        let url = reqwest::Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| TtpError::Invalid(format!("the TTP's URL is invalid: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" => {
                let host = url.host_str().unwrap_or("");
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let loopback = host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                if !loopback && !self.allow_plain_http {
                    return Err(TtpError::Invalid(
                        "plain http:// to the TTP is allowed only on loopback: use https://".into(),
                    ));
                }
            }
            _ => {
                return Err(TtpError::Invalid(
                    "the TTP's URL must be https:// (or http:// on loopback)".into(),
                ));
            }
        }
        Ok(url.into())
    }

    /// Sends with retries of transient failures.
    fn send(&self, build: impl Fn(&Client) -> RequestBuilder) -> Result<Response, TtpError> {
        let http = self
            .http
            .as_ref()
            .map_err(|e| TtpError::Transport(format!("cannot build the HTTP client: {e}")))?;
        let mut delay = self.retry_delay;
        let mut attempt = 0;
        loop {
            let r = build(http).bearer_auth(self.token.as_str()).send();
            let transient = match &r {
                Ok(resp) => {
                    resp.status() == StatusCode::TOO_MANY_REQUESTS
                        || resp.status().is_server_error()
                }
                Err(e) => e.is_connect() || e.is_timeout() || e.is_request(),
            };
            if !transient || attempt >= RETRIES {
                return match r {
                    Ok(resp) => check_status(resp),
                    Err(e) => Err(TtpError::Transport(e.without_url().to_string())),
                };
            }
            attempt += 1;
            tracing::warn!(attempt, "TTP request failed, retrying");
            std::thread::sleep(delay);
            delay *= 2;
        }
    }

    /// The id of the TTP's level-1 key.
    pub fn key_id(&self) -> Result<String, TtpError> {
        let url = self.url("/v1/key")?;
        let resp = self.send(|c| c.get(&url))?;
        let a: KeyAnswer = resp
            .json()
            .map_err(|_| TtpError::BadResponse("not the expected JSON".into()))?;
        Ok(a.key_id)
    }

    /// Level-1 pseudonyms of already-normalised `items` (each 1 to 8
    /// non-empty parts of at most 256 bytes), in order; sent in batches of
    /// at most 10 000 items.
    pub fn pseudonymise(&self, items: &[Vec<String>]) -> Result<Vec<Level1Pseudonym>, TtpError> {
        for (i, item) in items.iter().enumerate() {
            check_item(item).map_err(|m| TtpError::Invalid(format!("item {i} {m}")))?;
        }
        let url = self.url("/v1/pseudonymise")?;
        let mut out = Vec::with_capacity(items.len());
        let mut key_id: Option<String> = None;
        for batch in items.chunks(MAX_ITEMS) {
            let body = serde_json::json!({ "items": batch });
            let resp = self.send(|c| c.post(&url).json(&body))?;
            let a: PseudonymsAnswer = resp
                .json()
                .map_err(|_| TtpError::BadResponse("not the expected JSON".into()))?;
            if a.pseudonyms.len() != batch.len() {
                return Err(TtpError::BadResponse(format!(
                    "{} pseudonyms for {} items",
                    a.pseudonyms.len(),
                    batch.len()
                )));
            }
            match &key_id {
                None => key_id = Some(a.key_id),
                Some(k) if *k != a.key_id => {
                    return Err(TtpError::BadResponse(
                        "the TTP's key changed during the run".into(),
                    ));
                }
                Some(_) => {}
            }
            for p in &a.pseudonyms {
                out.push(Level1Pseudonym::from_hex(p).map_err(|_| {
                    TtpError::BadResponse("a pseudonym is not 32 hex characters".into())
                })?);
            }
        }
        Ok(out)
    }
}

fn check_status(resp: Response) -> Result<Response, TtpError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    if status == StatusCode::UNAUTHORIZED {
        return Err(TtpError::Unauthorised);
    }
    let message = resp
        .json::<ErrorBody>()
        .map(|b| b.error.message)
        .unwrap_or_else(|_| status.canonical_reason().unwrap_or("error").to_string());
    Err(TtpError::Refused {
        status: status.as_u16(),
        message,
    })
}
